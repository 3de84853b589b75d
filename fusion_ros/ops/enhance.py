# SPDX-License-Identifier: Apache-2.0
"""Weight-free low-light enhancement for models without an enhancement head.

Illumination-guided gamma: the gamma that maps the frame's median luminance to 0.45,
limited to [0.35, 1] so bright frames are left alone and dark ones are lifted without
blowing up the noise floor. Applied to the luminance; the caller keeps the chroma.
"""

from __future__ import annotations

import math

import torch

from fusion_ros.ops.shape import check_shape

__all__ = ['gamma_enhance']


def gamma_enhance(luma: torch.Tensor, target: float = 0.45,
                  min_gamma: float = 0.35) -> torch.Tensor:
    """Brighten dark frames: ``Y ** gamma`` with gamma = log(target) / log(median Y).

    Args:
        luma: :math:`(B, 1, H, W)` in [0, 1].

    Returns:
        :math:`(B, 1, H, W)` in [0, 1]; unchanged where the median is already >= target.
    """
    check_shape(luma, ['B', '1', 'H', 'W'])
    flat = luma.flatten(1)
    if flat.shape[1] > 65536:
        flat = flat[:, :: flat.shape[1] // 65536]
    median = flat.median(dim=1).values.clamp(1e-3, 0.999)
    gamma = (math.log(target) / torch.log(median)).clamp(min_gamma, 1.0)
    return luma.clamp(0.0, 1.0).pow(gamma.view(-1, 1, 1, 1))

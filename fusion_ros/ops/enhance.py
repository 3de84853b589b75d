# SPDX-License-Identifier: Apache-2.0
"""Weight-free low-light enhancement for models without an enhancement head.

Illumination-guided gamma: the gamma that maps the frame's median luminance to 0.45,
limited to [0.35, 1] so bright frames are left alone and dark ones are lifted. A lift
stretches the dark end, and with it a night frame's sensor noise (LLVIP: median |Laplacian|
1.0 -> 2.0), so the frame is first smoothed by a small self-guided filter, in proportion to
the lift: its fine noise goes, edges and texture above the noise stay. Applied to the
luminance; the caller keeps the chroma.
"""

from __future__ import annotations

import math

import torch

from fusion_ros.ops.filters import self_guided_filter
from fusion_ros.ops.shape import check_shape

__all__ = ['gamma_enhance']


def gamma_enhance(luma: torch.Tensor, target: float = 0.45, min_gamma: float = 0.35,
                  denoise_radius: int = 2, denoise_eps: float = 1e-4) -> torch.Tensor:
    """Brighten dark frames: ``Y' ** gamma`` with gamma = log(target) / log(median Y).

    Args:
        luma: :math:`(B, 1, H, W)` in [0, 1].
        denoise_radius, denoise_eps: the self-guided filter that gives ``Y'``; it is blended
            in by ``(1 - gamma) / (1 - min_gamma)``, so a frame left alone is not smoothed and
            the smoothing grows with the lift (no jump in a stream whose light changes).
            ``eps`` 1e-4 is a local standard deviation of 2.5 grey levels; radius 0 turns
            the smoothing off.

    Returns:
        :math:`(B, 1, H, W)` in [0, 1], in ``luma``'s dtype; unchanged where the median is
        already >= target.
    """
    check_shape(luma, ['B', '1', 'H', 'W'])
    y = luma.float().clamp(0.0, 1.0)  # the filter's variances need fp32, not bf16
    flat = y.flatten(1)
    if flat.shape[1] > 65536:
        flat = flat[:, :: flat.shape[1] // 65536]
    median = flat.median(dim=1).values.clamp(1e-3, 0.999)
    gamma = (math.log(target) / torch.log(median)).clamp(min_gamma, 1.0).view(-1, 1, 1, 1)
    if denoise_radius > 0 and min_gamma < 1.0 and bool((gamma < 1.0).any()):
        share = (1.0 - gamma) / (1.0 - min_gamma)
        y = torch.lerp(y, self_guided_filter(y, denoise_radius, denoise_eps).clamp(0.0, 1.0),
                       share)
    return y.pow(gamma).to(luma.dtype)

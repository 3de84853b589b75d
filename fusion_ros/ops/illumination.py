# SPDX-License-Identifier: Apache-2.0
"""Weight-free day/night estimate from the visible luminance.

Used when a model has no illumination head of its own. The median luminance is robust to
headlight glare, which covers a small area but would pull a mean up at night.
"""

from __future__ import annotations

import torch

from fusion_ros.ops.shape import check_shape

__all__ = ['luminance_day_probability']


def luminance_day_probability(
    luma: torch.Tensor, midpoint: float = 0.2, width: float = 0.04
) -> torch.Tensor:
    """Probability that a frame was taken by day, from its luminance.

    Args:
        luma: visible luminance in [0, 1] :math:`(B, 1, H, W)`.
        midpoint: median luminance at which day and night are equally likely.
        width: softness of the logistic transition.

    Returns:
        :math:`(B,)` probabilities in [0, 1].

    Example:
        >>> luminance_day_probability(torch.full((1, 1, 8, 8), 0.6)) > 0.99
        tensor([True])
    """
    check_shape(luma, ['B', '1', 'H', 'W'])
    flat = luma.flatten(1)
    if flat.shape[1] > 65536:  # strided subsample: same median within noise, far cheaper
        flat = flat[:, :: flat.shape[1] // 65536]
    median = flat.median(dim=1).values
    return torch.sigmoid((median - midpoint) / width)

# SPDX-License-Identifier: Apache-2.0
"""Full-range BT.601 RGB <-> YCbCr, the convention of DFVO and the PIAFusion port.

Y = .299R + .587G + .114B; Cr = (R - Y) * .713 + .5; Cb = (B - Y) * .564 + .5.
Fusion networks fuse Y with the thermal image and keep the visible Cb/Cr.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion_ros.ops.shape import check_shape

__all__ = ['RgbToYcbcr', 'YcbcrToRgb', 'rgb_to_ycbcr', 'ycbcr_to_rgb']


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """Convert RGB to YCbCr.

    Args:
        image: RGB in [0, 1] :math:`(B, 3, H, W)`.

    Returns:
        YCbCr in [0, 1] :math:`(B, 3, H, W)`, channels (Y, Cb, Cr).

    Example:
        >>> rgb_to_ycbcr(torch.rand(2, 3, 4, 5)).shape
        torch.Size([2, 3, 4, 5])
    """
    check_shape(image, ['B', '3', 'H', 'W'])
    r, g, b = image.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = (b - y) * 0.564 + 0.5
    cr = (r - y) * 0.713 + 0.5
    return torch.stack((y, cb, cr), 1)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Convert YCbCr (as made by :func:`rgb_to_ycbcr`) back to RGB, clamped to [0, 1].

    Args:
        image: YCbCr :math:`(B, 3, H, W)`.

    Returns:
        RGB :math:`(B, 3, H, W)`.
    """
    check_shape(image, ['B', '3', 'H', 'W'])
    y, cb, cr = image.unbind(1)
    r = y + 1.403 * (cr - 0.5)
    g = y - 0.714 * (cr - 0.5) - 0.344 * (cb - 0.5)
    b = y + 1.773 * (cb - 0.5)
    return torch.stack((r, g, b), 1).clamp_(0.0, 1.0)


class RgbToYcbcr(nn.Module):
    """Module form of :func:`rgb_to_ycbcr`."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return rgb_to_ycbcr(image)


class YcbcrToRgb(nn.Module):
    """Module form of :func:`ycbcr_to_rgb`."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return ycbcr_to_rgb(image)

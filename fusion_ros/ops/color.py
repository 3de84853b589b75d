# SPDX-License-Identifier: Apache-2.0
"""RGB <-> YCbCr transforms used by the fusion networks.

``bt601_full`` (DFVO, the PIAFusion port, our models): Y = .299R + .587G + .114B;
Cr = (R - Y) * .713 + .5; Cb = (B - Y) * .564 + .5.
``bt601_studio_tf`` (the TensorFlow PIAFusion, which its model was trained with):
studio-swing BT.601 with the original's typo (G weight .564 instead of .504) kept.
Fusion networks fuse Y with the thermal image and keep the visible Cb/Cr.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion_ros.ops.shape import check_shape

__all__ = ['COLOUR_TRANSFORMS', 'RgbToYcbcr', 'YcbcrToRgb', 'rgb_to_ycbcr',
           'rgb_to_ycbcr_studio_tf', 'ycbcr_studio_tf_to_rgb', 'ycbcr_to_rgb',
           'ycbcr_to_rgb_offsets']


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


# full-range BT.601 YCbCr -> RGB (the inverse of rgb_to_ycbcr), shared by both inverses
_R_CR, _G_CR, _G_CB, _B_CB = 1.403, 0.714, 0.344, 1.773


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Convert YCbCr (as made by :func:`rgb_to_ycbcr`) back to RGB, clamped to [0, 1].

    Args:
        image: YCbCr :math:`(B, 3, H, W)`.

    Returns:
        RGB :math:`(B, 3, H, W)`.
    """
    check_shape(image, ['B', '3', 'H', 'W'])
    y, cb, cr = image.unbind(1)
    r = y + _R_CR * (cr - 0.5)
    g = y - _G_CR * (cr - 0.5) - _G_CB * (cb - 0.5)
    b = y + _B_CB * (cb - 0.5)
    return torch.stack((r, g, b), 1).clamp_(0.0, 1.0)


def rgb_to_ycbcr_studio_tf(image: torch.Tensor) -> torch.Tensor:
    """Studio-swing BT.601 as the TensorFlow PIAFusion computes it (typo included).

    Args:
        image: RGB in [0, 1] :math:`(B, 3, H, W)`.

    Returns:
        (Y, Cb, Cr) :math:`(B, 3, H, W)`, Y in [16/255, 235/255] for in-gamut input.
    """
    check_shape(image, ['B', '3', 'H', 'W'])
    r, g, b = image.unbind(1)
    y = 0.257 * r + 0.564 * g + 0.098 * b + 16.0 / 255.0
    cb = -0.148 * r - 0.291 * g + 0.439 * b + 128.0 / 255.0
    cr = 0.439 * r - 0.368 * g - 0.071 * b + 128.0 / 255.0
    return torch.stack((y, cb, cr), 1)


def ycbcr_studio_tf_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Inverse used by the TensorFlow PIAFusion, clamped to [0, 1]."""
    check_shape(image, ['B', '3', 'H', 'W'])
    y, cb, cr = image.unbind(1)
    y = 1.164 * (y - 16.0 / 255.0)
    cb = cb - 128.0 / 255.0
    cr = cr - 128.0 / 255.0
    r = y + 1.596 * cr
    g = y - 0.392 * cb - 0.813 * cr
    b = y + 2.017 * cb
    return torch.stack((r, g, b), 1).clamp_(0.0, 1.0)


def ycbcr_to_rgb_offsets(ycbcr: torch.Tensor) -> torch.Tensor:
    """What :func:`ycbcr_to_rgb` adds to Y for R, G and B, per pixel, channels last.

    Outputs that share the chroma of one frame (fused and enhanced) then need one add and
    one clamp each, written straight in the (H, W, 3) layout of an image message.

    Args:
        ycbcr: :math:`(B, 3, H, W)` from :func:`rgb_to_ycbcr`.

    Returns:
        :math:`(B, H, W, 3)`; ``(y[:, 0, ..., None] + offsets).clamp(0, 1)`` equals
        ``ycbcr_to_rgb`` (to float rounding) moved to channels last.
    """
    check_shape(ycbcr, ['B', '3', 'H', 'W'])
    cb, cr = ycbcr[:, 1] - 0.5, ycbcr[:, 2] - 0.5
    return torch.stack((_R_CR * cr, -_G_CR * cr - _G_CB * cb, _B_CB * cb), -1)


# name -> (forward, inverse); models name theirs in ``FusionModel.colour``
COLOUR_TRANSFORMS = {
    'bt601_full': (rgb_to_ycbcr, ycbcr_to_rgb),
    'bt601_studio_tf': (rgb_to_ycbcr_studio_tf, ycbcr_studio_tf_to_rgb),
}


class RgbToYcbcr(nn.Module):
    """Module form of :func:`rgb_to_ycbcr`."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return rgb_to_ycbcr(image)


class YcbcrToRgb(nn.Module):
    """Module form of :func:`ycbcr_to_rgb`."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return ycbcr_to_rgb(image)

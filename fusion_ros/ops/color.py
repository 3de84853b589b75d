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

__all__ = ['COLOUR_TRANSFORMS', 'RgbToYcbcr', 'YcbcrToRgb', 'luma_and_offsets',
           'rgb_to_ycbcr', 'rgb_to_ycbcr_studio_tf', 'ycbcr_studio_tf_to_rgb', 'ycbcr_to_rgb']


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


def luma_and_offsets(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-range BT.601 Y of ``rgb`` and what :func:`ycbcr_to_rgb` adds to a luma for R, G
    and B, per pixel, channels last, in one matrix product over the pixels.

    Outputs that share the chroma of one frame (fused and enhanced) then need one add and
    one clamp each, written straight in the (H, W, 3) layout of an image message. Every
    quantity is linear in RGB (Cb - 0.5 = 0.564 (B - Y), Cr - 0.5 = 0.713 (R - Y)): one
    (pixels x 3) @ (3 x 4) product replaces the ten per-channel passes of
    ``rgb_to_ycbcr`` + recolouring (4.9 ms -> 0.4 ms at 640x512 on one core).

    Args:
        rgb: :math:`(B, 3, H, W)` in [0, 1] (a channels-last view is read in place).

    Returns:
        Y :math:`(B, 1, H, W)` (contiguous) and offsets :math:`(B, H, W, 3)`;
        ``(y[:, 0, ..., None] + offsets).clamp(0, 1)`` equals ``ycbcr_to_rgb`` of
        ``rgb_to_ycbcr`` (to float rounding) moved to channels last.
    """
    check_shape(rgb, ['B', '3', 'H', 'W'])
    b, _, h, w = rgb.shape
    pixels = rgb.permute(0, 2, 3, 1).reshape(-1, 3)
    out = (pixels @ _LUMA_OFFSETS.to(pixels)).view(b, h, w, 4)
    return out[..., 0].unsqueeze(1).contiguous(), out[..., 1:]


def _luma_offsets_matrix() -> torch.Tensor:
    luma = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    cb, cr = 0.564 * (eye[2] - luma), 0.713 * (eye[0] - luma)
    return torch.stack((luma, _R_CR * cr, -_G_CR * cr - _G_CB * cb, _B_CB * cb), 1).float()


_LUMA_OFFSETS = _luma_offsets_matrix()  # (3, 4): RGB -> (Y, R - Y, G - Y, B - Y)


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

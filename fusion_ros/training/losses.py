# SPDX-License-Identifier: Apache-2.0
"""Training losses: PIAFusion's illumination-aware fusion loss and light-curve losses.

PIAFusion (paper Eq. 8-12), with W_vi = P_day and W_ir = P_night from an illumination
estimate of the visible image:

    3 * (W_ir * L1(F, IR) + W_vi * L1(F, Y)) + 7 * L1(F, max(IR, Y))
    + 50 * L1(|grad F|, max(|grad IR|, |grad Y|)),   grad = |Sobel_x| + |Sobel_y|

``variant='tf'`` is the TensorFlow code's form instead:
50 * L1(F, 0.7 max(IR, Y) + 0.3 (W_vi Y + W_ir IR)) + 50 * texture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ['exposure_loss', 'piafusion_loss', 'sobel_gradient', 'smoothness_loss']

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_gradient(x: torch.Tensor) -> torch.Tensor:
    """|Sobel_x| + |Sobel_y| of :math:`(B, 1, H, W)`, zero padding (as both codes)."""
    kernel = torch.stack((_SOBEL_X, _SOBEL_X.t()))[:, None].to(x)
    g = F.conv2d(x, kernel, padding=1)
    return g.abs().sum(1, keepdim=True)


def piafusion_loss(fused: torch.Tensor, ir: torch.Tensor, y: torch.Tensor,
                   day: torch.Tensor, variant: str = 'paper') -> dict[str, torch.Tensor]:
    """Illumination-aware fusion loss.

    Args:
        fused, ir, y: :math:`(B, 1, H, W)` in [0, 1].
        day: :math:`(B,)` day probability per sample (W_vi); W_ir = 1 - day.
        variant: ``paper`` or ``tf``.

    Returns:
        ``{"total", "intensity", "max", "texture"}`` (scalars; total is the weighted sum).
    """
    w_vi = day.view(-1, 1, 1, 1).to(fused)
    w_ir = 1.0 - w_vi
    texture = F.l1_loss(sobel_gradient(fused),
                        torch.maximum(sobel_gradient(ir), sobel_gradient(y)))
    joint = torch.maximum(ir, y)
    if variant == 'tf':
        target = 0.7 * joint + 0.3 * (w_vi * y + w_ir * ir)
        intensity = F.l1_loss(fused, target)
        return {'total': 50 * intensity + 50 * texture, 'intensity': intensity,
                'max': fused.new_zeros(()), 'texture': texture}  # no separate max term
    intensity = (w_ir * (fused - ir).abs() + w_vi * (fused - y).abs()).mean()
    max_term = F.l1_loss(fused, joint)
    return {'total': 3 * intensity + 7 * max_term + 50 * texture, 'intensity': intensity,
            'max': max_term, 'texture': texture}


def exposure_loss(image: torch.Tensor, level: float = 0.55, patch: int = 16) -> torch.Tensor:
    """Zero-DCE exposure control: mean of ``patch`` x ``patch`` regions towards ``level``."""
    return (F.avg_pool2d(image, patch) - level).square().mean()


def smoothness_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation (mean squared neighbour differences) of a map."""
    return ((x[..., 1:, :] - x[..., :-1, :]).square().mean()
            + (x[..., :, 1:] - x[..., :, :-1]).square().mean())

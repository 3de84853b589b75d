# SPDX-License-Identifier: Apache-2.0
"""The engine's network outputs back to host images: fused and enhanced luma recoloured with
the frame's chroma, as uint8, and P(day) per frame, through one device-to-host copy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.ops.convert import luma_to_rgb_uint8, to_host

__all__ = ['FusionResult', 'frames_to_host', 'rgb_uint8']


@dataclass
class FusionResult:
    """One fused frame.

    Attributes:
        fused: uint8, RGB :math:`(H, W, 3)` when the visible input is colour, else :math:`(H, W)`.
        day_probability: probability the scene is lit by day, in [0, 1].
        enhanced: low-light-enhanced visible image (same layout as ``fused``) when asked for:
            the model's head, else the weight-free gamma lift.
        inference_ms: wall time of :meth:`FusionEngine.fuse`.
        stages_ms: where that time went: ``prepare`` (registration warp, gain control,
            tensors, colour conversion), ``model`` (the network), ``finish`` (illumination,
            recolouring, back to uint8: on a GPU this waits for the network too). Per frame
            of a batch.
    """

    fused: np.ndarray
    day_probability: float
    enhanced: np.ndarray | None
    inference_ms: float
    stages_ms: dict[str, float] = field(default_factory=dict)


def frames_to_host(fused: torch.Tensor, enhanced: torch.Tensor | None,
                   day: torch.Tensor, colour: str, *, ycbcr: torch.Tensor | None = None,
                   offsets: torch.Tensor | None = None
                   ) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[float]]:
    """Luma outputs -> uint8 images with the frame's chroma, and P(day) per frame, all
    through one device-to-host copy (:func:`to_host`). Full-range BT.601 (most models)
    passes the chroma as ``offsets`` (:func:`~fusion_ros.ops.color.luma_and_offsets`), made
    once for both outputs and written as (H, W, 3) directly: the recolouring was a third of
    the engine's time after the network; other transforms pass ``ycbcr``; neither: grey.

    Args:
        colour: the model's colour transform (``COLOUR_TRANSFORMS`` key).
    """
    outputs = [t for t in (fused, enhanced) if t is not None]
    if offsets is not None:
        images = [luma_to_rgb_uint8(t, offsets) for t in outputs]
    else:
        images = [rgb_uint8(t, ycbcr, colour) for t in outputs]
    *host, days = to_host(*images, day.float().reshape(-1))
    arrays = [[img.numpy() for img in batch] for batch in host]
    return arrays[0], arrays[1] if enhanced is not None else None, days.tolist()


def rgb_uint8(y: torch.Tensor, ycbcr: torch.Tensor | None, colour: str) -> torch.Tensor:
    """Luma -> uint8 (B, H, W, 3) RGB with ``ycbcr``'s chroma (or (B, H, W) grey without),
    on the device."""
    y = y.float()
    if ycbcr is None:
        rgb = y.clamp(0.0, 1.0)
    else:
        rgb = COLOUR_TRANSFORMS[colour][1](torch.cat((y, ycbcr[:, 1:]), 1))
    rgb = (rgb.clamp(0.0, 1.0) * 255.0).round_().to(torch.uint8).permute(0, 2, 3, 1)
    return (rgb[..., 0] if rgb.shape[-1] == 1 else rgb).contiguous()

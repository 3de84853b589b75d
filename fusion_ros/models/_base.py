# SPDX-License-Identifier: Apache-2.0
"""What every fusion model returns and promises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ['FusionModel', 'FusionOutput', 'ReflectionPad']


class ReflectionPad(nn.ReflectionPad2d):
    """``nn.ReflectionPad2d`` that keeps a channels_last input channels_last.

    The CPU kernel keeps the layout, but CUDA's (and the meta device's) returns NCHW, so
    every padded conv of a channels_last model paid two layout conversions there. No
    parameters: state dicts and checkpoints are unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
                and not x.is_contiguous()):  # NHWC, not a (B, C, 1, 1)-like ambiguous shape
            return out.contiguous(memory_format=torch.channels_last)
        return out


@dataclass
class FusionOutput:
    """Outputs of a fusion model, all in [0, 1].

    Attributes:
        fused: fused luminance :math:`(B, 1, H, W)`.
        enhanced: low-light-enhanced visible luminance :math:`(B, 1, H, W)`, if the model has
            an enhancement head.
        day_probability: :math:`(B,)`, if the model has an illumination head.
        logits: in training only, a model's pre-activation control maps (FastFusion's, at
            guidance scale), for a loss that keeps them where their activations still learn.
        base_share: when asked (FastFusion's ``return_base_share``), the thermal image's
            share of the fused base :math:`(B, 1, H, W)`: 1 all thermal, 0 all visible.
    """

    fused: torch.Tensor
    enhanced: torch.Tensor | None = None
    day_probability: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    base_share: torch.Tensor | None = None


class FusionModel(nn.Module):
    """Base class: ``forward(thermal, visible_y) -> FusionOutput``.

    Both inputs are :math:`(B, 1, H, W)` in [0, 1]; colour is handled outside the model by
    fusing luminance and keeping the visible chroma. ``size_multiple`` tells the engine to
    pad H and W up to a multiple of it and at least ``min_size`` (and crop back) instead of
    failing. ``needs_weights`` models refuse to run without a checkpoint unless the caller
    asks for random initialisation. ``colour`` names the RGB <-> YCbCr transform the model
    was trained with (``fusion_ros.ops.color.COLOUR_TRANSFORMS``).
    """

    colour: str = 'bt601_full'
    default_weights: str | None = None  # shipped file (relative to the package share)
    weights_source: str | None = None  # set by build_model when weights were loaded
    return_enhanced: bool = True  # False: models with an enhancement head may skip it
    size_multiple: int = 1
    min_size: int = 1  # reflect padding needs at least 2 pixels
    needs_weights: bool = False
    # precision 'auto' may run this model in bf16/fp16 + channels_last (measured faster and
    # faithful: docs/BENCHMARKS.md); False keeps it in fp32 (e.g. per-pixel rules)
    auto_precision: bool = False
    # ... and on the CPU too; False: reduced precision by 'auto' only on a GPU (FastFusion:
    # at 640x512 oneDNN's bf16 saves nothing on its few narrow convolutions, and the casts
    # and layout changes around them cost the node 10 % of a 30 Hz stream; BENCHMARKS.md)
    auto_precision_cpu: bool = True
    # backend 'auto' runs this model through OpenVINO on a CPU (measured faster than torch
    # there, with or without AMX: docs/BENCHMARKS.md); False keeps torch
    auto_runtime: bool = False
    # why the network cannot be exported to ONNX as it is (empty: it can)
    export_blocker: str = ''
    # the largest frame (H x W, padded) a runtime runs; larger frames run in torch, whose
    # forward may bound its memory in ways a traced graph cannot (DFVO's row strips)
    runtime_max_pixels: int | None = None
    # submodules that stay fp32 under bf16/fp16, fed fp32 inputs: the output layer, since
    # bf16's 8-bit mantissa cannot hold 256 grey levels near 1.0 (engine.precision)
    fp32_modules: tuple[str, ...] = ()
    # the closed range [low, high] of each numeric option (None: unbounded), checked by
    # build_model before the model is built: a value beyond it is one clear line, not a
    # torch error from deep inside the network
    option_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def graph_options(self, height: int, width: int) -> dict[str, Any]:
        """The options that fix, for H x W frames, what the forward chooses from the frame
        size (FastFusion's ``radius_reference``): a traced graph holds one choice, so the
        runtimes export one graph per distinct answer. ``{}``: the same graph at every size."""
        return {}

    def num_params(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def illumination(self, rgb: torch.Tensor) -> torch.Tensor | None:
        """P(day) :math:`(B,)` from the visible RGB image :math:`(B, 3, H, W)` for models with
        an illumination classifier of their own (PIAFusion's); None: the engine estimates it.
        """
        return None

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        raise NotImplementedError

# SPDX-License-Identifier: Apache-2.0
"""Classical fusion baselines: average, element-wise max and Laplacian-pyramid fusion.

No weights; every tool can compare a network against them. The Laplacian pyramid follows
Burt & Adelson (1983): a 5-tap binomial Gaussian pyramid, detail levels fused by choosing
the coefficient of larger magnitude, the coarsest level averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusion_ros.errors import ConfigError
from fusion_ros.models._base import FusionModel, FusionOutput
from fusion_ros.models._registry import register_model
from fusion_ros.ops.shape import check_fusion_inputs

__all__ = ['AverageFusion', 'LaplacianFusion', 'MaxFusion']


class AverageFusion(FusionModel):
    """Pixel-wise mean of thermal and visible luminance."""

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        return FusionOutput(fused=0.5 * (thermal + visible_y))


class MaxFusion(FusionModel):
    """Pixel-wise maximum: keeps warm targets and bright visible detail."""

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        return FusionOutput(fused=torch.maximum(thermal, visible_y))


class LaplacianFusion(FusionModel):
    """Laplacian-pyramid fusion.

    Both images go through the pyramid as one batch, with a separable 5-tap blur.

    Args:
        levels: pyramid levels including the coarse base (2 to 10: frames are padded to a
            multiple of 2 ** (levels - 1)).
    """

    option_ranges = {'levels': (2, 10)}

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        if levels < 2:
            raise ConfigError(f'levels must be >= 2, got {levels!r}')
        self.levels = levels
        self.size_multiple = 2 ** (levels - 1)

    @staticmethod
    def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        # separable [1 4 6 4 1]/16 as sums of shifted slices: far cheaper than a
        # one-channel conv2d on the CPU
        w = [t * gain / 16.0 for t in (1.0, 4.0, 6.0, 4.0, 1.0)]
        x = F.pad(x, (2, 2, 0, 0), mode='replicate')  # reflect fails below 3 px
        n = x.shape[-1] - 4
        x = sum(w[i] * x[..., i:i + n] for i in range(5))
        x = F.pad(x, (0, 0, 2, 2), mode='replicate')
        n = x.shape[-2] - 4
        return sum(w[i] * x[..., i:i + n, :] for i in range(5))

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return self._blur(x)[..., ::2, ::2]

    def _up(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        up = x.new_zeros(*x.shape[:-2], *size)
        up[..., ::2, ::2] = x
        return self._blur(up, gain=2.0)  # 2 per axis: zeros fill 3 of every 4 pixels

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        b = thermal.shape[0]
        x = torch.cat((thermal, visible_y), 0)
        bands = []
        for _ in range(self.levels - 1):
            down = self._down(x)
            bands.append(x - self._up(down, x.shape[-2:]))
            x = down
        fused = 0.5 * (x[:b] + x[b:])
        for band in reversed(bands):
            band_t, band_v = band[:b], band[b:]
            detail = torch.where(band_t.abs() >= band_v.abs(), band_t, band_v)
            fused = self._up(fused, band.shape[-2:]) + detail
        return FusionOutput(fused=fused.clamp(0.0, 1.0))


@register_model
def average(**kwargs: object) -> AverageFusion:
    """Pixel-wise average baseline."""
    return AverageFusion(**kwargs)


@register_model
def max(**kwargs: object) -> MaxFusion:  # noqa: A001 - the registry name users type
    """Element-wise maximum baseline."""
    return MaxFusion(**kwargs)


@register_model
def laplacian(**kwargs: object) -> LaplacianFusion:
    """Laplacian-pyramid baseline (``levels``, default 4)."""
    return LaplacianFusion(**kwargs)  # type: ignore[arg-type]

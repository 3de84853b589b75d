# SPDX-License-Identifier: Apache-2.0
"""FastFusion: our real-time, illumination-aware fusion network for the CPU.

The published networks run 64-256-channel convolutions at full resolution (seconds per
frame on a CPU). FastFusion moves all learned computation to a quarter-resolution
"guidance" branch and keeps only per-pixel arithmetic at full resolution:

1. full resolution: both images are split into base (5x5 box blur) and detail layers, and
   the local energy of each detail layer (box-blurred |detail|) is measured;
2. quarter resolution: a small depthwise-separable CNN (dilations 1, 2, 4, 8) sees both
   images and predicts three maps: an offset to the base selection, the detail gain and a
   low-light curve parameter; its pooled features also give the day probability (our own
   illumination estimator);
3. the maps are upsampled bilinearly and applied per pixel, around two fixed priors:
   the base layers are soft-maxed, w = sigmoid(k (IR_base - VI_base) + offset), and the
   details soft-chosen by energy as a Laplacian pyramid does,
   s = sigmoid(a (E_ir - E_vi) / (E_ir + E_vi)), with the weaker detail kept at 0.3:
   fused = w IR_base + (1 - w) VI_base + g (s IR_d + (1 - s) VI_d) + 0.3 ((1 - s) IR_d + s VI_d)
   with g in (1.1, 2): never an exact copy of one source (which the Qabf metric punishes);
   enhanced = the visible luminance through a 4-step quadratic light curve (Zero-DCE form),
   applied to the luminance smoothed by a self-guided filter in proportion to the curve's
   lift (its slope at a dark pixel reaches 16: the raw curve made LLVIP's night frames 4x
   noisier, median |Laplacian| 1.09 -> 4.47; ``denoise_enhanced=False`` turns it off).

Trained with the PIAFusion-style illumination-aware loss (``fusion_ros.training.losses``);
the shipped weights are ``models/fastfusion.pt`` (model card: ``models/fastfusion.md``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.errors import ConfigError, ShapeError
from fusion_ros.models._base import FusionModel, FusionOutput
from fusion_ros.models._registry import register_model
from fusion_ros.ops.conv import depthwise3x3_shifted
from fusion_ros.ops.export import onnx_exporting
from fusion_ros.ops.filters import box_blur, self_guided_filter, upsample_bilinear
from fusion_ros.ops.shape import check_fusion_inputs

__all__ = ['FastFusion']

_MAPS = 3  # base-selection offset, detail gain, light-curve parameter
_WEAK_DETAIL = 0.3  # share of the weaker detail layer that is kept
# from this dilation on, eager fp32 on the CPU runs the depthwise conv as shifted
# multiply-adds: oneDNN's dilation-8 kernel was 10x its dilation-4 one (ops/conv.py)
_SHIFTED_FROM_DILATION = 8


def _pool(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean over non-overlapping factor x factor blocks (H, W multiples of factor)."""
    return F.avg_pool2d(x, factor)  # 3x faster on the CPU than reshape + mean


class _SeparableBlock(nn.Module):
    """Residual depthwise 3x3 (dilated) + pointwise 1x1, ReLU."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, groups=width)
        self.pw = nn.Conv2d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and self.dw.dilation != (1, 1) and x.device.type == 'cpu':
            # oneDNN (torch 2.13 CPU) returns NaN weight gradients from dilated convolutions
            # in bf16 now and then (5-15 % of backward passes of these, in either layout;
            # test/models/test_fastfusion.py): while training this small conv runs in fp32
            with torch.autocast('cpu', enabled=False):
                inner = self._depthwise(x.float())
            return x + self.pw(F.relu(inner))
        return x + self.pw(F.relu(self._depthwise(x)))

    def _depthwise(self, x: torch.Tensor) -> torch.Tensor:
        if self._shifted(x):
            return depthwise3x3_shifted(x, self.dw.weight, self.dw.bias, self.dw.dilation[0])
        return self.dw(x)

    def _shifted(self, x: torch.Tensor) -> bool:
        # eager fp32 on the CPU (inference, and training's fp32 guard above): an exported or
        # compiled graph keeps the conv (the runtimes and inductor have their own kernels),
        # and bf16 would accumulate in bf16
        return (self.dw.dilation[0] >= _SHIFTED_FROM_DILATION and x.device.type == 'cpu'
                and x.dtype == torch.float32
                and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
                and not onnx_exporting())


class FastFusion(FusionModel):
    """Real-time illumination-aware fusion.

    Args:
        width: channels of the guidance branch.
        scale: downsampling factor of the guidance branch (input padded to a multiple of it).
        blur_radius: radius of the base/detail box filter at full resolution.
        radius_reference: 0 (the radius is ``blur_radius`` at every size), or the short side
            (pixels) up to which it is: a larger frame gets ``blur_radius x short side /
            radius_reference`` (rounded), so the split keeps the same share of the scene
            on a camera with more pixels (LLVIP's 1280x1024 frames against the 500x330
            RoadScene frames most crops come from; models/fastfusion.md, session 37).
        mid_band: 0, or the radius (guidance pixels) of a second, coarser detail band cut
            at guidance scale and chosen by its own energy; the base then comes from the
            coarser blur. No parameters: the same weights load either way.
        weak_detail: share of the weaker detail of each band that is kept.
        detail_gain_floor: the least gain on the stronger detail (the learned gain runs
            from it to it + 0.9). Trained gains sit at the floor; 1.3 instead of 1.1 keeps
            the visible image's edges at night (LLVIP Qabf, models/fastfusion.md).
        mid_mix: the mid band's choice, 0 = by brightness as the base (exactly the model
            without it), 1 = by energy; learn_mix: a per-pixel learned mix starting there.

    Shape:
        thermal, visible_y: :math:`(B, 1, H, W)` in [0, 1], H and W multiples of ``scale``.
        Outputs fused and enhanced :math:`(B, 1, H, W)`, day probability :math:`(B,)`.

    Example:
        >>> out = FastFusion().eval()(torch.rand(1, 1, 16, 24), torch.rand(1, 1, 16, 24))
        >>> out.fused.shape, out.day_probability.shape
        (torch.Size([1, 1, 16, 24]), torch.Size([1]))
    """

    needs_weights = True
    auto_precision = True
    auto_precision_cpu = False  # measured: fp32 is the faster of the two on CPUs
    option_ranges = {
        'width': (1, 512), 'scale': (1, 64), 'blur_radius': (1, 64),
        'base_sharpness': (0.0, None), 'detail_sharpness': (0.0, None), 'mid_band': (0, 64),
        'weak_detail': (0.0, 1.0), 'mid_mix': (0.0, 1.0), 'detail_gain_floor': (0.0, None),
        'denoise_eps': (0.0, None), 'base_offset': (-20.0, 20.0),
        'radius_reference': (0, None),
    }
    default_weights = 'models/fastfusion.pt'
    # a diagnostic: the base's thermal share out with the fused image (benchmarks/base_share.py)
    return_base_share = False
    # the radius an exported graph holds, set while it is traced (runtimes.fixed_for)
    fixed_radius = 0

    def __init__(self, width: int = 24, scale: int = 4, blur_radius: int = 2,
                 base_sharpness: float = 20.0, detail_sharpness: float = 20.0,
                 mid_band: int = 0, weak_detail: float = _WEAK_DETAIL,
                 mid_mix: float = 1.0, learn_mix: bool = False,
                 detail_gain_floor: float = 1.3, denoise_enhanced: bool = True,
                 denoise_eps: float = 3e-4, base_offset: float = 0.0,
                 radius_reference: int = 0) -> None:
        super().__init__()
        if width < 1 or scale < 1 or blur_radius < 1:
            raise ConfigError('width, scale and blur_radius must be >= 1')
        self.scale = scale
        self.size_multiple = scale
        self.min_size = scale
        self.blur_radius = blur_radius
        self.radius_reference = radius_reference
        self.mid_band = mid_band
        self.weak_detail = weak_detail
        self.detail_gain_floor = detail_gain_floor
        self.mid_mix = mid_mix
        self.denoise_enhanced = denoise_enhanced
        self.denoise_eps = denoise_eps
        if learn_mix and not mid_band:
            raise ConfigError('learn_mix needs mid_band > 0')
        # inputs: IR, Y, their local contrast (|detail| pooled) -> 4 channels
        self.stem = nn.Conv2d(4, width, 3, padding=1)
        self.blocks = nn.Sequential(*(_SeparableBlock(width, d) for d in (1, 2, 4, 8)))
        self.maps = nn.Conv2d(width, _MAPS, 1)
        self.day = nn.Linear(width, 1)
        self.base_sharpness = base_sharpness
        self.detail_sharpness = detail_sharpness
        # a per-pixel mid-band mix, starting at mid_mix everywhere (a parameter of its own,
        # so files without it refuse to load strictly into a model with it)
        self.mix = nn.Conv2d(width, 1, 1) if learn_mix else None
        with torch.no_grad():  # start at the priors: the offset, gain floor + 0.15, identity curve
            self.maps.weight.mul_(0.1)
            self.maps.bias.copy_(torch.tensor([base_offset, -1.609, 0.0]))
            if self.mix is not None:
                self.mix.weight.mul_(0.1)
                self.mix.bias.fill_(torch.logit(torch.tensor(min(max(mid_mix, 1e-3), 1 - 1e-3))))

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        h, w = thermal.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ShapeError(f'FastFusion needs H and W multiples of {self.scale}, got {w}x{h}')
        images = torch.cat((thermal, visible_y), 1)
        radius = self.radius_for(h, w)
        base = box_blur(images, radius)
        base_y = base[:, 1:2]  # kept: the mid band below replaces `base`
        detail = images - base
        magnitude = detail.abs()
        # pooled apart and joined small: a full-size 4-channel cat cost more than the pools
        low = torch.cat((_pool(images, self.scale), _pool(magnitude, self.scale)), 1)
        # the guidance branch in channels_last: oneDNN's depthwise (dilated) convolutions
        # are several times faster in it; its maps go back to NCHW for the full-size math
        low = low.contiguous(memory_format=torch.channels_last)
        feats = self.blocks(F.relu(self.stem(low)))
        want_curve = self.return_enhanced or self.training
        maps_low = self.maps(feats).contiguous()[:, :_MAPS if want_curve else 2]
        n_maps = maps_low.shape[1]
        extra: list[torch.Tensor] = []
        if self.mid_band:
            extra += self._mid_band_low(low[:, :2].contiguous())
            if self.mix is not None:
                extra.append(torch.sigmoid(self.mix(feats)).contiguous())
        if extra:
            maps_low = torch.cat((maps_low, *extra), 1)
        maps = upsample_bilinear(maps_low, (h, w))
        # the full-size arithmetic is memory-bound: each line below is written as few
        # whole-image passes as it can be (lerp, addcmul, add's alpha), same numbers
        select = self._select(box_blur(magnitude, radius))
        base_gap = base[:, 0:1] - base[:, 1:2]
        w_ir = torch.sigmoid(torch.add(maps[:, 0:1], base_gap, alpha=self.base_sharpness))
        gain = torch.sigmoid(maps[:, 1:2]).mul(0.9).add(self.detail_gain_floor)
        strong, weak = _strong_weak(select, detail)
        fused = torch.add(gain * strong, weak, alpha=self.weak_detail)
        if self.mid_band:
            # a second, coarser detail band chosen by its own energy, as a Laplacian pyramid's
            # next level: without it every structure wider than the 5x5 box comes from the
            # brighter base alone (the visible scene's shapes vanish at night under the IR)
            coarse, mid_select = maps[:, n_maps:n_maps + 2], maps[:, n_maps + 2:n_maps + 3]
            mid = base - coarse
            base = coarse
            base_gap = base[:, 0:1] - base[:, 1:2]
            mid_strong, mid_weak = _strong_weak(mid_select, mid)
            by_energy = torch.add(mid_strong, mid_weak, alpha=self.weak_detail)
            by_light = torch.lerp(mid[:, 1:2], mid[:, 0:1], w_ir)  # as the base: mix 0
            mix = maps[:, n_maps + 3:n_maps + 4] if self.mix is not None else self.mid_mix
            fused = fused + torch.lerp(by_light, by_energy, mix)
        fused = torch.addcmul(fused + base[:, 1:2], w_ir, base_gap)  # + lerp(VI, IR, w_ir)
        enhanced = None
        if want_curve:
            curve = torch.tanh(maps[:, 2:3])
            enhanced = visible_y
            if self.denoise_enhanced:  # the fine noise out before the curve stretches it
                # the denoiser keeps the trained radius: a wider window smooths less noise
                mean = base_y if radius == self.blur_radius else None
                smooth = self_guided_filter(visible_y, self.blur_radius, self.denoise_eps,
                                            mean=mean)
                share = curve.clamp(0.0, 1.0).to(visible_y.dtype)  # autocast: bf16 maps
                enhanced = torch.lerp(visible_y, smooth.clamp(0.0, 1.0), share)
            # the light curve e + c e (1 - e) as e ((1 + c) - c e): two passes a step
            lift = curve + 1.0
            for _ in range(4):
                enhanced = enhanced * torch.addcmul(lift, curve, enhanced, value=-1.0)
            enhanced = enhanced.clamp(0.0, 1.0)
        day = torch.sigmoid(self.day(feats.mean((2, 3)))).squeeze(1)
        return FusionOutput(fused=fused.clamp(0.0, 1.0), enhanced=enhanced, day_probability=day,
                            logits=maps_low[:, :n_maps] if self.training else None,
                            base_share=w_ir if self.return_base_share else None)

    def graph_options(self, height: int, width: int) -> dict[str, int]:
        if not self.radius_reference:
            return {}
        return {'fixed_radius': self.radius_for(height, width)}

    def radius_for(self, h: int, w: int) -> int:
        """The base/detail radius for an H x W frame (see ``radius_reference``)."""
        if self.fixed_radius:  # a graph exported for one frame size (runtimes.fixed_for)
            return self.fixed_radius
        return _frame_radius(self.blur_radius, self.radius_reference, h, w)

    def _select(self, energy: torch.Tensor) -> torch.Tensor:
        """Soft choice of the IR detail where its local energy is the larger (1) or not (0)."""
        e_ir, e_vi = energy[:, 0:1], energy[:, 1:2]
        return torch.sigmoid(self.detail_sharpness * (e_ir - e_vi) / (e_ir + e_vi + 1e-3))

    def _mid_band_low(self, images_low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """At guidance scale: the coarse base of both images and the mid band's choice."""
        coarse = box_blur(images_low, self.mid_band)
        energy = box_blur((images_low - coarse).abs(), self.mid_band)
        return coarse, self._select(energy)


def _frame_radius(radius: int, reference: int, height: int, width: int) -> int:
    """``radius`` for frames whose short side is up to ``reference`` pixels (or for every
    frame when it is 0), grown in proportion above it (rounded)."""
    if not reference:
        return radius
    return max(radius, round(radius * min(height, width) / reference))


def _strong_weak(select: torch.Tensor, band: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The stronger (IR where ``select`` is 1) and the weaker of a band's two layers:
    ``s IR + (1 - s) VI`` and ``(1 - s) IR + s VI``, as VI + s (IR - VI) and IR - s (IR - VI)."""
    ir, vi = band[:, 0:1], band[:, 1:2]
    gap = ir - vi
    return torch.addcmul(vi, select, gap), torch.addcmul(ir, select, gap, value=-1.0)


@register_model
def fastfusion(**kwargs: object) -> FastFusion:
    """FastFusion: our real-time CPU model (ships trained: models/fastfusion.pt)."""
    return FastFusion(**kwargs)  # type: ignore[arg-type]

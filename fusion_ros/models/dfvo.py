# SPDX-License-Identifier: Apache-2.0
"""DFVO: detail-aware fusion for visible and infrared images in the dark (seed 000).

Written from the paper and the facts of the authors' code (module and key names kept, so
their ``{'model': state_dict}`` files load strictly). Two variants, one class:

* ``variant='full'`` (the authors' ``DFLONet``): illumination net (ILNet), encoders, HCAM,
  DEM and four heads: illumination map, enhanced visible, reconstructed IR, fused.
* ``variant='inference'`` (``SimplifiedModel``): encoders, HCAM, DEM, fusion head only.

Differences from the authors' code, each with an option:

* ``fix_ir_detail`` (default True): their IR detail path goes through the *visible* de-conv
  (``ViDeConv``); we use ``IrDeConv``. ``False`` reproduces the bug.
* ``bn_momentum`` (default PyTorch's 0.1): their 0.9 is a TensorFlow-style value that in
  PyTorch weights the new batch at 90 %.
* HCAM attention never builds the N x N matrix unless asked (``attention='dense'``): query
  chunks (``chunked``, default) or ``scaled_dot_product_attention`` (``sdpa``), all with the
  authors' unscaled logits. In inference the full-resolution parts run in row strips with an
  exact halo, so 1280x1024 fits in a few GB.
* Exported to ONNX (``engine.runtimes``), the whole frame runs at once and the queries are
  split into a fixed number of chunks: a count that follows the frame size would trace to
  one size only, a fixed count traces to slices of any size.
* Inputs are padded to a multiple of 4 by the engine instead of failing.
* ``upsample`` (default ``official``): HCAM's transposed convolutions (stride 4, dilation 2)
  write only odd rows and columns, so three pixels in four of the attention's contribution
  are its bias alone (a period-2 grid, in the authors' code too). ``filled`` keeps those
  values where they are and fills the other pixels by bilinear interpolation between them:
  the same weights, the same official key layout.
* ``stretch`` (default False): the authors' ``eval.py`` stretches every fused image to its
  own min-max. A per-frame contrast stretch flickers on video, so the node never sets it;
  ``fuse``/``eval`` can, to compare with their published numbers.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.errors import ShapeError, WeightsError
from fusion_ros.models._base import FusionModel, FusionOutput
from fusion_ros.models._registry import register_model
from fusion_ros.models.dfvo_parts import (
    DECODER_HALO,
    ENCODER_HALO,
    Conv2dBnLeakyRelu,
    Conv2dSigmoid,
    CrossSelfAttention,
    DetailFeatureExtraction,
    ILNet,
    UpConv2dBnLeakyRelu,
    fill_odd_lattice,
    hcam_attention,
    run_in_strips,
    stretch_to_range,
)
from fusion_ros.ops.export import onnx_exporting
from fusion_ros.ops.shape import check_fusion_inputs

__all__ = ['ATTENTION_MODES', 'DFVO', 'TRAINING_ONLY_PREFIXES', 'UPSAMPLING', 'VARIANTS',
           'fill_odd_lattice', 'hcam_attention', 'stretch_to_range']

VARIANTS = ('full', 'inference')
UPSAMPLING = ('official', 'filled', 'none')
ATTENTION_MODES = ('chunked', 'sdpa', 'dense')
TRAINING_ONLY_PREFIXES = ('IL.', 'EnDecode', 'EnSigmoid', 'IrDecode', 'IrSigmoid')

class DFVO(FusionModel):
    """DFVO fusion network.

    Args:
        variant: ``full`` (training model with illumination, enhancement and IR heads) or
            ``inference`` (fusion head only, 9.7 M params).
        attention: ``chunked`` (default), ``sdpa`` or ``dense`` (builds N x N; tests only).
        fix_ir_detail: route the IR detail through ``IrDeConv`` (True) or, like the authors'
            code, through ``ViDeConv`` (False).
        bn_momentum: BatchNorm momentum (PyTorch convention; the authors used 0.9).
        strip_rows: rows per strip in inference (no autograd); 0 disables strips.
        upsample: ``official`` (HCAM's up-convolutions as the authors', with their period-2
            grid), ``filled`` (the grid's gaps filled bilinearly; same weights) or ``none``
            (HCAM's contribution left out: a diagnostic of what the attention adds).
        stretch: stretch each fused image to its own min-max in inference (the authors'
            evaluation; flickers on video).

    Shape:
        thermal, visible_y: :math:`(B, 1, H, W)` in [0, 1], H and W multiples of 4.

    Example:
        >>> m = DFVO('inference').eval()
        >>> m(torch.rand(1, 1, 16, 20), torch.rand(1, 1, 16, 20)).fused.shape
        torch.Size([1, 1, 16, 20])
    """

    size_multiple = 4
    min_size = 4
    needs_weights = True
    # ours (models/dfvo.md): the full model in fp16, so the inference variant drops its
    # training heads on loading and variant='full' keeps the enhancement head
    default_weights = 'models/dfvo.pt'
    auto_precision = True
    # OpenVINO f32 ran 640x512 2x faster than torch fp32 (docs/BENCHMARKS.md), but its graph
    # holds the whole frame (no strips): 5.6 GB there against torch's 1.3 GB, about 4x more
    # at 1280x1024; larger frames stay in torch
    auto_runtime = True
    runtime_max_pixels = 640 * 512
    weight_formats = ('dfvo-official',)
    option_ranges = {'bn_momentum': (0.0, 1.0), 'strip_rows': (0, None)}

    def __init__(self, variant: str = 'inference', attention: str = 'chunked',
                 fix_ir_detail: bool = True, bn_momentum: float = 0.1,
                 strip_rows: int = 64, upsample: str = 'official', stretch: bool = False
                 ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}')
        if upsample not in UPSAMPLING:
            raise ValueError(f'upsample must be one of {UPSAMPLING}, got {upsample!r}')
        self.upsample = upsample
        self.stretch = stretch
        if attention not in ATTENTION_MODES:
            raise ValueError(f'attention must be one of {ATTENTION_MODES}, got {attention!r}')
        if strip_rows < 0:
            raise ValueError(f'strip_rows must be >= 0, got {strip_rows}')
        self.variant = variant
        self.fix_ir_detail = fix_ir_detail
        self.strip_rows = strip_rows
        m = bn_momentum
        if variant == 'full':
            self.IL = ILNet(m)
        for side in ('Vi', 'Ir'):
            for i, (cin, cout) in enumerate(((1, 16), (16, 32), (32, 64), (64, 128)), 1):
                setattr(self, f'{side}Encode{i}', Conv2dBnLeakyRelu(cin, cout, m))
        self.ViConv = nn.Conv2d(128, 256, 3, stride=4, padding=1)
        self.IrConv = nn.Conv2d(128, 256, 3, stride=4, padding=1)
        self.CSA = CrossSelfAttention(256, attention)
        self.ViUpConv = nn.ConvTranspose2d(256, 128, 3, stride=4, padding=1, dilation=2,
                                           output_padding=1)
        self.IrUpConv = nn.ConvTranspose2d(256, 128, 3, stride=4, padding=1, dilation=2,
                                           output_padding=1)
        self.ViDetail = DetailFeatureExtraction()
        self.ViDeConv = nn.Conv2d(128, 128, 3, padding=1)
        self.IrDetail = DetailFeatureExtraction()
        self.IrDeConv = nn.Conv2d(128, 128, 3, padding=1)
        if not fix_ir_detail:
            # kept for the official key layout but never used: frozen, so DDP (which waits for
            # a gradient of every trainable parameter) needs no find_unused_parameters
            self.IrDeConv.requires_grad_(False)
        heads = [('Fu', (256, 128, 64, 32, 16))]
        if variant == 'full':
            heads += [('En', (128, 64, 32, 16)), ('Ir', (128, 64, 32, 16))]
        for name, chans in heads:
            for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:]), 1):
                setattr(self, f'{name}Decode{i}', UpConv2dBnLeakyRelu(cin, cout, m))
            setattr(self, f'{name}Sigmoid', Conv2dSigmoid(16))

    # -- building blocks ------------------------------------------------------------------
    def _encode(self, side: str, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 5):
            x = getattr(self, f'{side}Encode{i}')(x)
        return x

    def _head(self, name: str, x: torch.Tensor) -> torch.Tensor:
        i = 1
        while hasattr(self, f'{name}Decode{i}'):
            x = getattr(self, f'{name}Decode{i}')(x)
            i += 1
        return getattr(self, f'{name}Sigmoid')(x)

    def _details(self, vi: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ir_deconv = self.IrDeConv if self.fix_ir_detail else self.ViDeConv
        return self.ViDeConv(self.ViDetail(vi)), ir_deconv(self.IrDetail(ir))

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        """An up-convolution's output as the ``upsample`` option wants it (linear, so the
        sum of both sides may be filled at once)."""
        if self.upsample == 'none':
            return torch.zeros_like(x)
        return fill_odd_lattice(x) if self.upsample == 'filled' else x

    def _attend(self, vi: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vi_down = F.max_pool2d(self.ViConv(vi), 3, 1, 1)
        ir_down = F.max_pool2d(self.IrConv(ir), 3, 1, 1)
        return self.CSA(vi_down, ir_down)

    # -- forward --------------------------------------------------------------------------
    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        h, w = thermal.shape[-2:]
        if h % 4 or w % 4:
            raise ShapeError(f'DFVO needs H and W multiples of 4, got {w}x{h} (the engine pads)')
        if (self.strip_rows and not self.training and not torch.is_grad_enabled()
                and not onnx_exporting()):  # strips: a loop sized by the frame
            out = self._forward_strips(thermal, visible_y)
        else:
            out, _ = self.forward_all(thermal, visible_y)
        if self.stretch:
            out.fused = stretch_to_range(out.fused)
        return out

    def forward_all(self, thermal: torch.Tensor,
                    visible_y: torch.Tensor) -> tuple[FusionOutput, dict[str, torch.Tensor]]:
        """Plain forward (training): outputs plus ``illumination`` and ``ir_reconstructed``."""
        vi = self._encode('Vi', visible_y)
        ir = self._encode('Ir', thermal)
        vi_att, ir_att = self._attend(vi, ir)
        vi_base = self._up(self.ViUpConv(vi_att)) + vi
        ir_base = self._up(self.IrUpConv(ir_att)) + ir
        vi_detail, ir_detail = self._details(vi, ir)
        fused = self._head('Fu', torch.cat((vi_base + ir_base, vi_detail + ir_detail), 1))
        extras: dict[str, torch.Tensor] = {}
        enhanced = None
        if self.variant == 'full':
            extras['illumination'] = self.IL(visible_y)
            enhanced = self._head('En', vi_base + vi_detail)
            extras['ir_reconstructed'] = self._head('Ir', ir_base + ir_detail)
        return FusionOutput(fused=fused, enhanced=enhanced), extras

    def _forward_strips(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        """Inference with bounded memory; equal to :meth:`forward_all` up to float rounding."""
        rows = self.strip_rows
        (vi,) = run_in_strips(lambda x: (self._encode('Vi', x),), [visible_y],
                               ENCODER_HALO, rows)
        (ir,) = run_in_strips(lambda x: (self._encode('Ir', x),), [thermal], ENCODER_HALO,
                               rows)
        vi_att, ir_att = self._attend(vi, ir)
        if self.variant == 'full':  # the enhancement head needs the visible base alone
            ups = [self._up(self.ViUpConv(vi_att)), self._up(self.IrUpConv(ir_att))]
        else:  # ViUpConv(a) + IrUpConv(b) as one transposed conv: one full-size tensor
            ups = [self._up(F.conv_transpose2d(
                torch.cat((vi_att, ir_att), 1),
                torch.cat((self.ViUpConv.weight, self.IrUpConv.weight), 0),
                self.ViUpConv.bias + self.IrUpConv.bias, stride=4, padding=1,
                output_padding=1, dilation=2))]
        del vi_att, ir_att

        def decode(vi_s: torch.Tensor, ir_s: torch.Tensor,
                   *ups_s: torch.Tensor) -> tuple[torch.Tensor, ...]:
            vi_detail, ir_detail = self._details(vi_s, ir_s)
            base = vi_s + ir_s
            for u in ups_s:
                base = base + u
            fused = self._head('Fu', torch.cat((base, vi_detail + ir_detail), 1))
            if len(ups_s) == 1:
                return (fused,)
            return fused, self._head('En', ups_s[0] + vi_s + vi_detail)

        outs = run_in_strips(decode, [vi, ir, *ups], DECODER_HALO, rows)
        return FusionOutput(fused=outs[0], enhanced=outs[1] if len(outs) > 1 else None)

    def load_weights(self, path: Path | str, fmt: str | None = None) -> None:
        """Load our checkpoint or the authors' ``{'model': state_dict}`` (DFLONet or
        SimplifiedModel keys). The inference variant drops a full model's training-only heads.
        """
        from fusion_ros.models._builder import load_state_dict, load_strict

        state = load_state_dict(path)
        if fmt == 'dfvo-official' and not any(k.startswith('ViEncode1.') for k in state):
            raise WeightsError(f'{str(path)!r} is not a DFVO release: no ViEncode1.* keys')
        if self.variant == 'inference':
            state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
        elif not any(k.startswith('IL.') for k in state):
            raise WeightsError(f'{str(path)!r} holds an inference model (no IL.* heads); build '
                               "DFVO with variant='inference' to load it")
        load_strict(self, state, str(path))


@register_model
def dfvo(**kwargs: object) -> DFVO:
    """DFVO (seed 000); variant = inference | full, attention = chunked | sdpa | dense."""
    return DFVO(**kwargs)  # type: ignore[arg-type]

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

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.errors import ShapeError, WeightsError
from fusion_ros.models._base import FusionModel, FusionOutput, ReflectionPad
from fusion_ros.models._registry import register_model
from fusion_ros.ops.shape import check_fusion_inputs

__all__ = ['ATTENTION_MODES', 'DFVO', 'TRAINING_ONLY_PREFIXES', 'UPSAMPLING', 'VARIANTS',
           'fill_odd_lattice', 'hcam_attention', 'stretch_to_range']

VARIANTS = ('full', 'inference')
UPSAMPLING = ('official', 'filled', 'none')
ATTENTION_MODES = ('chunked', 'sdpa', 'dense')
TRAINING_ONLY_PREFIXES = ('IL.', 'EnDecode', 'EnSigmoid', 'IrDecode', 'IrSigmoid')
_SCORE_BUDGET = 1 << 25  # elements of one query chunk's score matrix (128 MB in fp32)
# query chunks of the exported attention: 640x512 has 20,480 tokens (a chunk's scores 105 MB
# in fp32), 1280x1024 has 81,920 (1.7 GB)
_EXPORT_CHUNKS = 16
# rows of halo that make strip inference exact: encoder 4 (four 3x3), DEM 3 x 2 + de-conv 1,
# fusion head 5 (four transposed 3x3 + one 3x3)
_ENCODER_HALO = 4
_DECODER_HALO = 12


class Conv2dBnLeakyRelu(nn.Module):
    """3x3 conv (zero padding) + BN + LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, bn_momentum: float) -> None:
        super().__init__()
        self.Conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.Bn = nn.BatchNorm2d(cout, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.Bn(self.Conv(x)), 0.2)


class UpConv2dBnLeakyRelu(Conv2dBnLeakyRelu):
    """Same-size 3x3 transposed conv + BN + LeakyReLU(0.2) (the authors' decoder block)."""

    def __init__(self, cin: int, cout: int, bn_momentum: float) -> None:
        super().__init__(cin, cout, bn_momentum)
        self.Conv = nn.ConvTranspose2d(cin, cout, 3, padding=1)


class Conv2dSigmoid(nn.Module):
    """3x3 conv to one channel + sigmoid."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.Conv = nn.Conv2d(cin, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.Conv(x))


class SobelConv(nn.Module):
    """Learnable Sobel: |convx(x)| + |convy(x)| then 1x1; convx/convy start as Sobel kernels.

    As in the authors' code every (out, in) pair of the 3x3 kernels starts as the same Sobel
    kernel, so each output channel begins as the Sobel response of the channel sum.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.convx = nn.Conv2d(cin, cin, 3, padding=1, bias=False)
        self.convy = nn.Conv2d(cin, cin, 3, padding=1, bias=False)
        self.Conv = nn.Conv2d(cin, cout, 1)
        sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        with torch.no_grad():
            self.convx.weight.copy_(sobel.expand_as(self.convx.weight))
            self.convy.weight.copy_(sobel.t().expand_as(self.convy.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Conv(self.convx(x).abs() + self.convy(x).abs())


def hcam_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   mode: str = 'chunked') -> torch.Tensor:
    """softmax(q k^T) v without the 1/sqrt(d) scale (as the authors), computed in fp32.

    The unscaled logits are large (about 530 at random init): in bf16 their rounding step
    (2-4 there) erases the margins between keys (5 % relative attention error measured) and
    fp16 overflows, so under reduced precision q, k, v are upcast and the result cast back.

    Args:
        q, k: :math:`(B, N, D)`; v: :math:`(B, N, C)`.
        mode: ``chunked`` (query blocks, O(chunk x N) memory), ``sdpa`` or ``dense``.

    Returns:
        :math:`(B, N, C)` in the dtype of ``v``.
    """
    dtype = v.dtype
    q, k, v = q.float(), k.float(), v.float()
    return _attention_fp32(q, k, v, mode).to(dtype)


def _attention_fp32(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    mode: str) -> torch.Tensor:
    if mode == 'dense':
        return torch.softmax(q @ k.transpose(1, 2), -1) @ v
    if torch.onnx.is_in_onnx_export():
        # bounds from the traced token count (q.chunk would trace its chunk *count* at the
        # export size: fewer than asked where the size does not divide)
        n_q = q.shape[1]
        bounds = [n_q * i // _EXPORT_CHUNKS for i in range(_EXPORT_CHUNKS + 1)]
        kt = k.transpose(1, 2)
        return torch.cat([torch.softmax(q[:, a:b] @ kt, -1) @ v
                          for a, b in zip(bounds[:-1], bounds[1:])], 1)
    if mode == 'sdpa':
        # 4-D (B, heads, N, D): the layout CUDA's memory-efficient kernel takes (fp32 too);
        # 3-D inputs fall back to the math kernel, which builds the N x N scores
        out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1),
                                             scale=1.0)
        return out.squeeze(1)
    n = k.shape[1]
    chunk = max(1, _SCORE_BUDGET // max(n, 1))
    if chunk >= q.shape[1]:
        return torch.softmax(q @ k.transpose(1, 2), -1) @ v
    kt = k.transpose(1, 2)
    return torch.cat([torch.softmax(qc @ kt, -1) @ v for qc in q.split(chunk, 1)], 1)


class CrossSelfAttention(nn.Module):
    """HCAM core: Q from cat(vi, ir) (Sobel conv), K per modality (Sobel conv), V 1x1.

    vi_out = V_vi attended with softmax(Q K_ir^T); ir_out = V_ir with softmax(Q K_vi^T).
    """

    def __init__(self, channels: int, attention: str) -> None:
        super().__init__()
        self.attention = attention
        self.ViV_conv = nn.Conv2d(channels, channels, 1)
        self.ViSK_conv = SobelConv(channels, channels // 8)
        self.CrossSQ_conv = SobelConv(channels * 2, channels // 8)
        self.IrSK_conv = SobelConv(channels, channels // 8)
        self.IrV_conv = nn.Conv2d(channels, channels, 1)

    def forward(self, vi: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = vi.shape

        def tokens(x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, N, C)
            return x.flatten(2).transpose(1, 2)

        q = tokens(self.CrossSQ_conv(torch.cat((vi, ir), 1)))
        vi_out = hcam_attention(q, tokens(self.IrSK_conv(ir)), tokens(self.ViV_conv(vi)),
                                self.attention)
        ir_out = hcam_attention(q, tokens(self.ViSK_conv(vi)), tokens(self.IrV_conv(ir)),
                                self.attention)
        return (vi_out.transpose(1, 2).reshape(b, c, h, w),
                ir_out.transpose(1, 2).reshape(b, c, h, w))


class InvertedResidualBlock(nn.Module):
    """1x1 expand, ReLU6, reflect-padded depthwise 3x3, ReLU6, 1x1 project (no BN, no bias)."""

    def __init__(self, channels: int, expand: int = 2) -> None:
        super().__init__()
        hidden = channels * expand
        self.bottleneckBlock = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU6(),
            ReflectionPad(1),
            nn.Conv2d(hidden, hidden, 3, groups=hidden, bias=False),
            nn.ReLU6(),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneckBlock(x)


class DetailNode(nn.Module):
    """Invertible node: mix (1x1), z2 += phi(z1), z1 = z1 * exp(rho(z2)) + eta(z2)."""

    def __init__(self, half: int = 64) -> None:
        super().__init__()
        self.theta_phi = InvertedResidualBlock(half)
        self.theta_rho = InvertedResidualBlock(half)
        self.theta_eta = InvertedResidualBlock(half)
        self.shffleconv = nn.Conv2d(2 * half, 2 * half, 1)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z1, z2 = self.shffleconv(torch.cat((z1, z2), 1)).chunk(2, 1)
        z2 = z2 + self.theta_phi(z1)
        z1 = z1 * torch.exp(self.theta_rho(z2)) + self.theta_eta(z2)
        return z1, z2


class DetailFeatureExtraction(nn.Module):
    """DEM: three detail nodes on a 64/64 channel split."""

    def __init__(self, num_layers: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(*(DetailNode() for _ in range(num_layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1, z2 = x.chunk(2, 1)
        for node in self.net:
            z1, z2 = node(z1, z2)
        return torch.cat((z1, z2), 1)


class ILNet(nn.Module):
    """Illumination map from the visible luminance (full resolution, sigmoid)."""

    def __init__(self, bn_momentum: float) -> None:
        super().__init__()
        m = bn_momentum
        self.Encode1 = Conv2dBnLeakyRelu(1, 32, m)
        self.Encode2 = Conv2dBnLeakyRelu(32, 64, m)
        self.Encode3 = Conv2dBnLeakyRelu(64, 128, m)
        self.Decode1 = UpConv2dBnLeakyRelu(128, 64, m)
        self.Decode2 = UpConv2dBnLeakyRelu(64, 32, m)
        self.Decode3 = UpConv2dBnLeakyRelu(32, 16, m)
        self.Sigmoid = Conv2dSigmoid(16)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.Encode1(y), 3, 1, 1)
        x = F.max_pool2d(self.Encode3(self.Encode2(x)), 3, 1, 1)
        return self.Sigmoid(self.Decode3(self.Decode2(self.Decode1(x))))


def _run_in_strips(fn: Callable[..., tuple[torch.Tensor, ...]], inputs: Sequence[torch.Tensor],
                   halo: int, rows: int) -> tuple[torch.Tensor, ...]:
    """Apply a local (convolutional) ``fn`` to horizontal strips with ``halo`` context rows.

    Exact when ``halo`` covers ``fn``'s receptive-field radius: interior strip edges never
    reach the kept rows, and the image's own top/bottom edges are strip edges too.
    """
    height = inputs[0].shape[-2]
    outs: list[torch.Tensor] = []
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        results = fn(*(x[..., lo:hi, :] for x in inputs))
        if not outs:
            outs = [r.new_empty(*r.shape[:-2], height, r.shape[-1]) for r in results]
        for out, r in zip(outs, results):
            out[..., top:bottom, :] = r[..., top - lo:top - lo + bottom - top, :]
    return tuple(outs)


def stretch_to_range(x: torch.Tensor) -> torch.Tensor:
    """Each image of the batch linearly mapped onto [0, 1] (a flat one to 0)."""
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - low) / (high - low).clamp_min(1e-6)


def fill_odd_lattice(x: torch.Tensor) -> torch.Tensor:
    """Keep the pixels at odd (row, column) and fill the rest bilinearly between them (the
    first row and column copy their neighbours): HCAM's up-convolutions write only those."""
    h, w = x.shape[-2:]
    lattice = x[..., 1::2, 1::2]
    # align_corners: output q sits at lattice coordinate q / 2, i.e. full-size pixel q + 1
    inner = F.interpolate(lattice, size=(h - 1, w - 1), mode='bilinear', align_corners=True)
    return F.pad(inner, (1, 0, 1, 0), mode='replicate')


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
                and not torch.onnx.is_in_onnx_export()):  # strips: a loop sized by the frame
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
        (vi,) = _run_in_strips(lambda x: (self._encode('Vi', x),), [visible_y],
                               _ENCODER_HALO, rows)
        (ir,) = _run_in_strips(lambda x: (self._encode('Ir', x),), [thermal], _ENCODER_HALO,
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

        outs = _run_in_strips(decode, [vi, ir, *ups], _DECODER_HALO, rows)
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

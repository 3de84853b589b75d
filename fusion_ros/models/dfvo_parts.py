# SPDX-License-Identifier: Apache-2.0
"""DFVO's building blocks (``fusion_ros.models.dfvo``): encoder and decoder layers, the HCAM
cross-attention, the detail extraction (DEM), the illumination net, and the helpers for row
strips and the up-convolutions' grid. Module and attribute names are the authors', so their
state dicts load strictly."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.models._base import ReflectionPad
from fusion_ros.ops.export import onnx_exporting

__all__ = ['DECODER_HALO', 'ENCODER_HALO', 'Conv2dBnLeakyRelu', 'Conv2dSigmoid',
           'CrossSelfAttention', 'DetailFeatureExtraction', 'ILNet', 'UpConv2dBnLeakyRelu',
           'fill_odd_lattice', 'hcam_attention', 'run_in_strips', 'stretch_to_range']

_SCORE_BUDGET = 1 << 25  # elements of one query chunk's score matrix (128 MB in fp32)
# query chunks of the exported attention: 640x512 has 20,480 tokens (a chunk's scores 105 MB
# in fp32), 1280x1024 has 81,920 (1.7 GB)
_EXPORT_CHUNKS = 16
# rows of halo that make strip inference exact: encoder 4 (four 3x3), DEM 3 x 2 + de-conv 1,
# fusion head 5 (four transposed 3x3 + one 3x3)
ENCODER_HALO = 4
DECODER_HALO = 12


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
    if onnx_exporting():
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


def run_in_strips(fn: Callable[..., tuple[torch.Tensor, ...]], inputs: Sequence[torch.Tensor],
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

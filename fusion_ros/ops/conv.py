# SPDX-License-Identifier: Apache-2.0
"""Convolutions written out where the CPU library's own kernel is slow."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ['depthwise3x3_shifted']


def depthwise3x3_shifted(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         dilation: int) -> torch.Tensor:
    """A depthwise 3x3 convolution (``groups = C``, zero padding ``dilation``, stride 1) as
    nine shifted multiply-adds: the same numbers as ``F.conv2d`` to float rounding, in the
    input's memory format.

    oneDNN (torch 2.13 CPU) falls off its fast path for a dilation of 8 on a 24-channel map:
    on an AVX2-only EPYC it took 9-12 ms at 160x128 in channels_last (3.8 ms in NCHW) where
    dilations 1, 2 and 4 take 0.2 ms; the nine passes here take about 1 ms
    (docs/BENCHMARKS.md, "The dilated convolution").

    Args:
        x: :math:`(B, C, H, W)`, NCHW or channels_last.
        weight: :math:`(C, 1, 3, 3)`, as ``nn.Conv2d(C, C, 3, groups=C).weight``.
        bias: :math:`(C,)` or None.
        dilation: the spacing of the taps (and the padding).
    """
    if weight.shape[1:] != (1, 3, 3) or weight.shape[0] != x.shape[1]:
        raise ValueError(f'a depthwise 3x3 weight of {x.shape[1]} channels is needed, '
                         f'got {tuple(weight.shape)}')
    taps = weight[:, 0].to(x.dtype)  # (C, 3, 3)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return _channels_last(x, taps, bias, dilation)
    c, (h, w), d = x.shape[1], x.shape[-2:], dilation
    padded = F.pad(x, (d, d, d, d))
    out: torch.Tensor | None = None
    for i in range(3):
        for j in range(3):
            window = padded[:, :, i * d:i * d + h, j * d:j * d + w]
            tap = taps[:, i, j].view(1, c, 1, 1)
            out = window * tap if out is None else out.addcmul_(window, tap)
    assert out is not None
    return out if bias is None else out.add_(bias.to(x.dtype).view(1, c, 1, 1))


def _channels_last(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None,
                   dilation: int) -> torch.Tensor:
    # rows of W*C contiguous values, each tap tiled W times along them: a per-channel tap
    # broadcast over a 24-wide inner dimension ran 4x slower than this
    b, c, h, w = x.shape
    d = dilation
    rows = F.pad(x.permute(0, 2, 3, 1), (0, 0, d, d, d, d)).reshape(b, h + 2 * d,
                                                                     (w + 2 * d) * c)
    tiled = taps.permute(1, 2, 0).repeat(1, 1, w)  # (3, 3, W*C)
    out: torch.Tensor | None = None
    for i in range(3):
        for j in range(3):
            window = rows[:, i * d:i * d + h, j * d * c:(j * d + w) * c]
            out = window * tiled[i, j] if out is None else out.addcmul_(window, tiled[i, j])
    assert out is not None
    if bias is not None:
        out.add_(bias.to(x.dtype).repeat(w))
    return out.view(b, h, w, c).permute(0, 3, 1, 2)

# SPDX-License-Identifier: Apache-2.0
"""Box and guided filters on :math:`(B, C, H, W)` tensors, shared by the models (FastFusion's
base/detail split), the weight-free enhancer and the training losses."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['box_blur', 'guided_filter', 'self_guided_filter', 'upsample_bilinear']


def _box_mean_1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Mean over 2r+1 neighbours along ``dim`` (zero-padded sums / in-image counts)."""
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [radius, radius]
    padded = F.pad(x, pad)
    # shifted-slice sums, accumulated in place: far faster than avg_pool2d, and 7x faster
    # than `total = total + ...`, which allocates a full-size tensor per shift
    total = padded.narrow(dim, 0, n).clone()
    for shift in range(1, 2 * radius + 1):
        total.add_(padded.narrow(dim, shift, n))
    idx = torch.arange(n, device=x.device)
    counts = (torch.clamp(idx + radius, max=n - 1) - torch.clamp(idx - radius, min=0) + 1)
    shape = [1] * x.dim()
    shape[dim] = n
    return total.div_(counts.to(x.dtype).view(shape))


def box_blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, borders averaged over the pixels inside the image.

    Separable (rows then columns): the same numbers as ``avg_pool2d(count_include_pad=False)``
    on the 2-D window, about 10x faster on the CPU. An fp32 CPU tensor that needs no gradient
    (inference) goes through OpenCV's running-sum box filter instead: the same means within
    float rounding, 6x faster (FastFusion's frame is mostly these blurs).
    """
    if (x.device.type == 'cpu' and x.dtype == torch.float32 and not x.requires_grad
            and x.dim() >= 2 and min(x.shape[-2:]) > 2 * radius
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()):
        return _box_blur_cv2(x, radius)  # (an ONNX export or torch.compile needs torch ops)
    return _box_mean_1d(_box_mean_1d(x, radius, -1), radius, -2)


def _box_blur_cv2(x: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`box_blur` by ``cv2.boxFilter``: a window sum over zero padding divided by k²,
    then the 2r border rows and columns rescaled to the count of in-image pixels."""
    h, w = x.shape[-2:]
    planes = x.contiguous().reshape(-1, h, w).numpy()
    out = np.empty_like(planes)
    k = 2 * radius + 1
    for src, dst in zip(planes, out):
        cv2.boxFilter(src, -1, (k, k), dst=dst, normalize=True,
                      borderType=cv2.BORDER_CONSTANT)
    rows, cols = _border_scale(h, radius), _border_scale(w, radius)
    for band in (slice(0, radius), slice(h - radius, h)):  # bands apart: h, w > 2r
        out[:, band, :] *= rows[band, None]
    for band in (slice(0, radius), slice(w - radius, w)):
        out[:, :, band] *= cols[band]
    return torch.from_numpy(out).reshape(x.shape)


@functools.lru_cache(maxsize=64)
def _border_scale(n: int, radius: int) -> np.ndarray:
    """k / (the window's in-image length) along one axis: 1 away from the borders."""
    idx = np.arange(n)
    inside = np.minimum(idx + radius, n - 1) - np.maximum(idx - radius, 0) + 1
    return ((2 * radius + 1) / inside).astype(np.float32)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int = 30,
                  eps: float = 0.01) -> torch.Tensor:
    """He et al.'s guided filter (grey guide), box windows of (2r+1)^2 clipped at borders.

    With ``guide`` = ``src`` it is an edge-keeping smoother: windows whose variance is well
    below ``eps`` are averaged, stronger structure passes.
    """
    mean_i, mean_p = box_blur(guide, radius), box_blur(src, radius)
    cov = box_blur(guide * src, radius) - mean_i * mean_p
    var = box_blur(guide * guide, radius) - mean_i.square()
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box_blur(a, radius) * guide + box_blur(b, radius)


def self_guided_filter(y: torch.Tensor, radius: int, eps: float,
                       mean: torch.Tensor | None = None) -> torch.Tensor:
    """``guided_filter(y, y, radius, eps)`` in three box blurs instead of five (two when the
    caller passes ``mean``, ``y``'s box blur at ``radius``), computed in fp32: the window
    variances cancel to nothing in half precision.
    """
    y32 = y.float()
    mean = box_blur(y32, radius) if mean is None else mean.float()
    var = (box_blur(y32 * y32, radius) - mean.square()).clamp_min(0.0)
    a = var / (var + eps)
    ab = box_blur(torch.cat((a, mean - a * mean), 1), radius)  # both in one pass
    c = y.shape[1]
    return (ab[:, :c] * y32 + ab[:, c:]).to(y.dtype)


def upsample_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(x, size, mode='bilinear', align_corners=False)`` as two 1-D linear
    passes (rows, then columns): the same numbers within float rounding, 3x faster on the
    CPU (torch's 2-D kernel took 4 ms for FastFusion's three 640x512 maps on one core)."""
    b, c, h, w = x.shape
    out_h, out_w = size
    # columns first, on the small transposed grid, so the full-size pass writes in memory
    # order: a transposed full-size result made every later op on the maps 2x slower
    cols = F.interpolate(x.reshape(b * c, h, w).transpose(1, 2), size=out_h, mode='linear',
                         align_corners=False)
    rows = F.interpolate(cols.transpose(1, 2).contiguous(), size=out_w, mode='linear',
                         align_corners=False)
    return rows.reshape(b, c, out_h, out_w)

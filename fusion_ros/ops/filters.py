# SPDX-License-Identifier: Apache-2.0
"""Box and guided filters on :math:`(B, C, H, W)` tensors, shared by the models (FastFusion's
base/detail split), the weight-free enhancer and the training losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ['box_blur', 'guided_filter', 'self_guided_filter']


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
    on the 2-D window, about 10x faster on the CPU.
    """
    return _box_mean_1d(_box_mean_1d(x, radius, -1), radius, -2)


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

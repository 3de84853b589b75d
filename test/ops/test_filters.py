# SPDX-License-Identifier: Apache-2.0
"""Box blur and bilinear upsampling: the fast inference paths against torch's reference."""

import pytest
import torch
import torch.nn.functional as F

from fusion_ros.ops import filters
from fusion_ros.ops.filters import box_blur, upsample_bilinear


def _torch_box(x, radius):
    """The 2-D window mean with in-image counts, as avg_pool2d defines it; by explicit
    windows where the image is smaller than the window (avg_pool2d refuses those)."""
    h, w = x.shape[-2:]
    if min(h, w) > 2 * radius:
        k = 2 * radius + 1
        return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)
    out = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            window = x[..., max(i - radius, 0):i + radius + 1, max(j - radius, 0):j + radius + 1]
            out[..., i, j] = window.mean((-2, -1))
    return out


@pytest.mark.parametrize(('shape', 'radius'), [
    ((1, 2, 512, 640), 2), ((2, 3, 7, 5), 2), ((1, 1, 33, 40), 5), ((3, 1, 6, 9), 2),
    ((1, 1, 5, 5), 2), ((1, 1, 3, 3), 4), ((1, 1, 1, 9), 1), ((1, 1, 64, 64), 0),
])
def test_box_blur_is_the_window_mean_on_every_path(shape, radius):
    """OpenCV (fp32, no gradient), torch (gradients, other dtypes) and images smaller than
    the window all give avg_pool2d's means, borders averaged over the in-image pixels."""
    x = torch.rand(shape)
    expected = _torch_box(x, radius) if radius else x
    assert torch.allclose(box_blur(x, radius), expected, atol=1e-6)
    graded = x.clone().requires_grad_(True)
    out = box_blur(graded, radius)
    assert out.requires_grad and torch.allclose(out.detach(), expected, atol=1e-6)
    assert torch.allclose(box_blur(x.double(), radius), expected.double(), atol=1e-6)


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning', 'ignore::DeprecationWarning')
def test_box_blur_runs_opencv_only_where_nothing_needs_torch_ops(monkeypatch):
    calls = []
    fast = filters._box_blur_cv2
    monkeypatch.setattr(filters, '_box_blur_cv2', lambda x, r: calls.append(1) or fast(x, r))
    x = torch.rand(1, 1, 32, 32)
    box_blur(x, 2)
    assert calls == [1]
    box_blur(x.requires_grad_(True), 2)  # training: autograd needs torch's ops
    box_blur(x.detach().half(), 2)
    traced = torch.jit.trace(lambda t: box_blur(t, 2), torch.rand(1, 1, 16, 16),
                             check_trace=False)  # (the check re-runs it untraced)
    assert calls == [1]
    # the traced graph is torch's and takes other sizes
    y = torch.rand(1, 1, 20, 24)
    assert torch.allclose(traced(y), _torch_box(y, 2), atol=1e-6)


@pytest.mark.parametrize(('shape', 'size'), [
    ((1, 3, 128, 160), (512, 640)), ((2, 2, 5, 7), (20, 28)), ((1, 1, 4, 6), (13, 9)),
    ((1, 1, 1, 1), (3, 4)), ((1, 2, 8, 8), (8, 8)),
])
def test_upsample_bilinear_equals_torchs_2d_kernel(shape, size):
    x = torch.randn(shape, requires_grad=True)
    expected = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
    out = upsample_bilinear(x, size)
    assert out.shape == expected.shape and out.is_contiguous()
    assert torch.allclose(out, expected, atol=1e-5)
    grad = torch.randn_like(out)
    (ours,) = torch.autograd.grad(out, x, grad)
    (theirs,) = torch.autograd.grad(expected, x, grad)
    assert torch.allclose(ours, theirs, atol=1e-4)

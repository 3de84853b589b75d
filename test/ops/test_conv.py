# SPDX-License-Identifier: Apache-2.0
"""The depthwise 3x3 convolution as shifted multiply-adds, against torch's own."""

import pytest
import torch
import torch.nn.functional as F

from fusion_ros.ops.conv import depthwise3x3_shifted


@pytest.mark.parametrize('dilation', [1, 2, 4, 8])
@pytest.mark.parametrize('shape', [(1, 24, 40, 48), (2, 5, 13, 9), (1, 3, 7, 30)])
@pytest.mark.parametrize('channels_last', [False, True])
def test_shifted_equals_conv2d_in_any_size_and_layout(dilation, shape, channels_last):
    torch.manual_seed(dilation)
    conv = torch.nn.Conv2d(shape[1], shape[1], 3, padding=dilation, dilation=dilation,
                           groups=shape[1])
    x = torch.randn(shape)  # maps smaller than the dilation too: all taps in the padding
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = conv(x)
        got = depthwise3x3_shifted(x, conv.weight, conv.bias, dilation)
        no_bias = depthwise3x3_shifted(x, conv.weight, None, dilation)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(no_bias, F.conv2d(x, conv.weight, None, padding=dilation,
                                                 dilation=dilation, groups=shape[1]),
                               atol=1e-5, rtol=1e-5)
    # the layout the next (pointwise) conv sees is the input's
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_shifted_gradients_equal_conv2d():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6, 3, padding=8, dilation=8, groups=6)
    x = torch.randn(2, 6, 20, 17, requires_grad=True)
    got = torch.autograd.grad(depthwise3x3_shifted(x, conv.weight, conv.bias, 8).square().sum(),
                              [x, conv.weight, conv.bias])
    want = torch.autograd.grad(conv(x).square().sum(), [x, conv.weight, conv.bias])
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-3, rtol=1e-4)


def test_a_weight_that_is_not_depthwise_3x3_is_refused():
    with pytest.raises(ValueError, match='depthwise 3x3'):
        depthwise3x3_shifted(torch.rand(1, 4, 8, 8), torch.rand(4, 4, 3, 3), None, 2)
    with pytest.raises(ValueError, match='depthwise 3x3'):
        depthwise3x3_shifted(torch.rand(1, 4, 8, 8), torch.rand(4, 1, 5, 5), None, 2)

# SPDX-License-Identifier: Apache-2.0
"""YCbCr conversion (full-range BT.601)."""

import pytest
import torch

from fusion_ros.errors import ShapeError
from fusion_ros.ops.color import RgbToYcbcr, YcbcrToRgb, rgb_to_ycbcr, ycbcr_to_rgb


@pytest.mark.parametrize('shape', [(1, 3, 1, 1), (2, 3, 5, 7), (3, 3, 16, 9)])
def test_cardinality_and_round_trip(shape):
    x = torch.rand(shape)
    y = rgb_to_ycbcr(x)
    assert y.shape == shape
    torch.testing.assert_close(ycbcr_to_rgb(y), x, atol=2e-3, rtol=0)


def test_golden_values():
    white = torch.ones(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_ycbcr(white).flatten(), torch.tensor([1.0, 0.5, 0.5]))
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    y, cb, cr = rgb_to_ycbcr(red).flatten().tolist()
    assert y == pytest.approx(0.299)
    assert cb == pytest.approx((0 - 0.299) * 0.564 + 0.5)
    assert cr == pytest.approx((1 - 0.299) * 0.713 + 0.5)


def test_exception():
    with pytest.raises(ShapeError, match='expected a tensor of shape'):
        rgb_to_ycbcr(torch.rand(1, 1, 4, 4))
    with pytest.raises(ShapeError):
        ycbcr_to_rgb(torch.rand(3, 4, 4))


def test_module_equals_functional():
    x = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(RgbToYcbcr()(x), rgb_to_ycbcr(x))
    torch.testing.assert_close(YcbcrToRgb()(x), ycbcr_to_rgb(x))


def test_luma_and_offsets_are_the_ycbcr_round_trip_in_one_product():
    """Y equals rgb_to_ycbcr's; Y' + offsets equals ycbcr_to_rgb with Y replaced by Y',
    for a channels-last view (the engine's frames) and a contiguous tensor alike."""
    from fusion_ros.ops.color import luma_and_offsets

    hwc = torch.rand(2, 6, 5, 3)
    for rgb in (hwc.permute(0, 3, 1, 2), hwc.permute(0, 3, 1, 2).contiguous()):
        y, offsets = luma_and_offsets(rgb)
        ycbcr = rgb_to_ycbcr(rgb)
        assert y.shape == (2, 1, 6, 5) and y.is_contiguous() and offsets.shape == (2, 6, 5, 3)
        assert torch.allclose(y, ycbcr[:, :1], atol=1e-6)
        other = torch.rand(2, 1, 6, 5)  # a fused luma
        expected = ycbcr_to_rgb(torch.cat((other, ycbcr[:, 1:]), 1)).permute(0, 2, 3, 1)
        assert torch.allclose((other[:, 0, ..., None] + offsets).clamp(0, 1), expected,
                              atol=1e-5)

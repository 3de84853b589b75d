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

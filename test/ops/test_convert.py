# SPDX-License-Identifier: Apache-2.0
"""Thermal gain control and array/tensor conversion."""

import numpy as np
import pytest
import torch

from fusion_ros.errors import EncodingError, ShapeError
from fusion_ros.ops.convert import (
    array_to_tensor,
    tensor_to_uint8,
    thermal_to_unit,
    visible_to_unit,
)


def test_8bit_thermal_is_scaled_not_stretched():
    t = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(thermal_to_unit(t), [[0.0, 0.2, 1.0]], atol=1e-6)


def test_14bit_raw_counts_are_stretched_to_full_range():
    rng = np.random.default_rng(0)
    raw = rng.integers(7000, 9000, (64, 80)).astype(np.uint16)  # typical 14-bit scene
    out = thermal_to_unit(raw, 1.0, 99.0)
    assert out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert 0.3 < float(np.median(out)) < 0.7  # cv_bridge's /65535 would give ~0.12


def test_float_thermal_with_nan_masks_them():
    t = np.linspace(20.0, 40.0, 100, dtype=np.float32).reshape(10, 10)
    t[0, 0] = np.nan
    t[1, 1] = np.inf
    out = thermal_to_unit(t)
    assert np.isfinite(out).all()
    assert out[0, 0] == 0.0 and out[1, 1] == 0.0


def test_thermal_errors():
    with pytest.raises(EncodingError, match='no finite'):
        thermal_to_unit(np.full((4, 4), np.nan, np.float32))
    with pytest.raises(ShapeError):
        thermal_to_unit(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(EncodingError):
        thermal_to_unit(np.zeros((4, 4), np.int32))


def test_visible_errors():
    with pytest.raises(ShapeError):
        visible_to_unit(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(EncodingError, match='NaN'):
        visible_to_unit(np.full((4, 4), np.nan, np.float32))


def test_tensor_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    t = array_to_tensor(visible_to_unit(rgb))
    assert tuple(t.shape) == (1, 3, 5, 6)
    np.testing.assert_array_equal(tensor_to_uint8(t), rgb)
    grey = array_to_tensor(thermal_to_unit(rgb[..., 0]))
    assert tuple(grey.shape) == (1, 1, 5, 6)
    np.testing.assert_array_equal(tensor_to_uint8(grey), rgb[..., 0])


def test_to_host_packs_every_tensor_into_one_copy_and_restores_dtypes_and_shapes():
    from fusion_ros.ops.convert import to_host

    images = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8)
    grey = torch.randint(0, 256, (2, 5, 7), dtype=torch.uint8)
    days = torch.tensor([0.25, 0.875], dtype=torch.float32)
    packed = to_host(images, grey, days, pack=True)
    assert [t.dtype for t in packed] == [torch.uint8, torch.uint8, torch.float32]
    assert [t.shape for t in packed] == [images.shape, grey.shape, days.shape]
    for got, want in zip(packed, (images, grey, days)):
        assert torch.equal(got, want)
    # one buffer: the outputs are views of the same storage
    assert len({t.untyped_storage().data_ptr() for t in packed}) == 1
    # a permuted (non-contiguous) tensor survives the packing too
    assert torch.equal(to_host(images.permute(0, 3, 1, 2), pack=True)[0],
                       images.permute(0, 3, 1, 2))
    assert to_host(days)[0] is days  # on the CPU nothing is copied


def test_luma_to_rgb_uint8_clamps_and_rounds_half_to_even_as_torch_does():
    """The CPU path writes the bytes with OpenCV; the numbers are torch's round(255 x)."""
    from fusion_ros.ops.convert import luma_to_rgb_uint8

    y = torch.rand(2, 1, 7, 9) * 1.4 - 0.2  # below 0 and above 1 too
    offsets = torch.rand(2, 7, 9, 3) * 0.4 - 0.2
    # exact ties: 255 x = k + 0.5 rounds to the even neighbour
    y[0, 0, 0, :4] = torch.tensor([0.5, 1.5, 2.5, 3.5]) / 255.0
    offsets[0, 0, :4] = 0.0
    out = luma_to_rgb_uint8(y, offsets)
    expected = ((y[:, 0, ..., None] + offsets).clamp(0, 1) * 255.0).round().to(torch.uint8)
    assert out.dtype == torch.uint8 and out.shape == (2, 7, 9, 3)
    assert torch.equal(out, expected)
    assert out[0, 0, :4, 0].tolist() == [0, 2, 2, 4]

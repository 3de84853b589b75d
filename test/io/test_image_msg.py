# SPDX-License-Identifier: Apache-2.0
"""Image message <-> array conversion: round trips, padding, byte order, bad messages."""

from types import SimpleNamespace

import numpy as np
import pytest

from fusion_ros.errors import EncodingError, ShapeError
from fusion_ros.io.image_msg import array_to_fields, image_to_array, to_rgb_or_grey

RNG = np.random.default_rng(0)


def msg_from(fields, data=None, **override):
    d = fields._asdict()
    d['data'] = fields.data.tobytes() if data is None else data
    d.update(override)
    return SimpleNamespace(**d)


CASES = [
    ('mono8', RNG.integers(0, 256, (5, 7), dtype=np.uint8)),
    ('8UC1', RNG.integers(0, 256, (5, 7), dtype=np.uint8)),
    ('mono16', RNG.integers(0, 65536, (5, 7), dtype=np.uint16)),
    ('16UC1', RNG.integers(0, 65536, (5, 7), dtype=np.uint16)),
    ('32FC1', RNG.standard_normal((5, 7)).astype(np.float32)),
    ('rgb8', RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)),
    ('bgr8', RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)),
    ('rgba8', RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)),
    ('bgra8', RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)),
]


@pytest.mark.parametrize(('encoding', 'arr'), CASES, ids=[c[0] for c in CASES])
def test_round_trip(encoding, arr):
    fields = array_to_fields(arr, encoding)
    assert (fields.height, fields.width) == arr.shape[:2]
    back = image_to_array(msg_from(fields))
    assert back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize('data_type', [bytes, lambda b: np.frombuffer(b, np.uint8)])
def test_works_with_rclpy_and_rosbags_data_types(data_type):
    arr = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    fields = array_to_fields(arr, 'rgb8')
    back = image_to_array(msg_from(fields, data=data_type(fields.data.tobytes())))
    np.testing.assert_array_equal(back, arr)


def test_step_padding_is_skipped():
    arr = RNG.integers(0, 65536, (3, 5), dtype=np.uint16)
    padded = np.zeros((3, 16), np.uint8)  # 10 bytes of pixels + 6 bytes padding per row
    padded[:, :10] = arr.view(np.uint8).reshape(3, 10)
    padded[:, 10:] = 0xAB
    msg = SimpleNamespace(height=3, width=5, encoding='mono16', is_bigendian=0, step=16,
                          data=padded.tobytes())
    np.testing.assert_array_equal(image_to_array(msg), arr)


def test_big_endian_16bit():
    arr = np.array([[1, 256, 65535]], np.uint16)
    msg = SimpleNamespace(height=1, width=3, encoding='mono16', is_bigendian=1, step=6,
                          data=arr.astype('>u2').tobytes())
    out = image_to_array(msg)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.uint16 and out.dtype.isnative


def test_channel_order_normalised_to_rgb():
    bgr = np.zeros((1, 1, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    assert to_rgb_or_grey(bgr, 'bgr8')[0, 0].tolist() == [0, 0, 10]
    bgra = np.array([[[1, 2, 3, 4]]], np.uint8)
    assert to_rgb_or_grey(bgra, 'bgra8')[0, 0].tolist() == [3, 2, 1]
    assert to_rgb_or_grey(bgra, 'rgba8')[0, 0].tolist() == [1, 2, 3]


def test_unsupported_encoding_names_it():
    msg = SimpleNamespace(height=1, width=1, encoding='yuv422', is_bigendian=0, step=2,
                          data=b'\x00\x00')
    with pytest.raises(EncodingError, match="'yuv422'"):
        image_to_array(msg)


@pytest.mark.parametrize(('override', 'error', 'match'), [
    ({'step': 3}, EncodingError, 'step 3 is smaller'),
    ({'data': b'\x00' * 10}, EncodingError, 'data has 10 bytes'),
    ({'height': 0}, ShapeError, 'zero size'),
    ({'width': 0}, ShapeError, 'zero size'),
    ({'height': 1 << 20, 'step': 1 << 20}, ShapeError, 'exceeds'),
])
def test_lying_messages_raise(override, error, match):
    fields = array_to_fields(np.zeros((4, 4), np.uint8), 'mono8')
    with pytest.raises(error, match=match):
        image_to_array(msg_from(fields, **override))


def test_array_to_fields_checks_dtype_and_channels():
    with pytest.raises(EncodingError):
        array_to_fields(np.zeros((2, 2), np.float32), 'mono8')
    with pytest.raises(ShapeError):
        array_to_fields(np.zeros((2, 2, 3), np.uint8), 'mono8')

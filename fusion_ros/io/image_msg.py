# SPDX-License-Identifier: Apache-2.0
"""Convert ``sensor_msgs/Image`` messages to and from NumPy arrays, by duck typing.

Works for rclpy messages (``data`` is an ``array.array``) and rosbags messages (``data`` is an
``np.ndarray``): anything with ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``
and a buffer-protocol ``data``. No per-pixel Python loops: rows are sliced out of the buffer
with strides, so ``step`` padding costs one copy at most. Follows cv_bridge's encoding names.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np

from fusion_ros.errors import EncodingError, ShapeError

__all__ = [
    'ENCODINGS',
    'ImageFields',
    'array_to_fields',
    'compressed_to_array',
    'decode_image',
    'image_to_array',
    'to_rgb_or_grey',
]


class _Layout(NamedTuple):
    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, _Layout] = {
    'mono8': _Layout(np.dtype(np.uint8), 1),
    '8UC1': _Layout(np.dtype(np.uint8), 1),
    'mono16': _Layout(np.dtype(np.uint16), 1),
    '16UC1': _Layout(np.dtype(np.uint16), 1),
    '32FC1': _Layout(np.dtype(np.float32), 1),
    'rgb8': _Layout(np.dtype(np.uint8), 3),
    'bgr8': _Layout(np.dtype(np.uint8), 3),
    '8UC3': _Layout(np.dtype(np.uint8), 3),
    'rgba8': _Layout(np.dtype(np.uint8), 4),
    'bgra8': _Layout(np.dtype(np.uint8), 4),
}

# Largest image accepted from the wire: 16k x 16k x 4 bytes. Anything bigger is a lying header.
MAX_IMAGE_BYTES = 1 << 30


class ImageFields(NamedTuple):
    """The fields of a ``sensor_msgs/Image`` except the header."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray  # 1-D uint8, contiguous


def _layout(encoding: str) -> _Layout:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise EncodingError(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(ENCODINGS)}'
        ) from None


def image_to_array(msg: Any) -> np.ndarray:
    """Return the pixels of an Image message as an array.

    Args:
        msg: a ``sensor_msgs/Image`` (rclpy or rosbags).

    Returns:
        :math:`(H, W)` for one channel, :math:`(H, W, C)` otherwise, in the encoding's dtype
        and native byte order, channel order as in the message. May share memory with ``msg``.

    Raises:
        EncodingError: unknown encoding, or ``step``/``data`` inconsistent with the size.
        ShapeError: zero-size or absurdly large image.
    """
    layout = _layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ShapeError(f'image has zero size ({width}x{height})')
    row_bytes = width * layout.channels * layout.dtype.itemsize
    if step < row_bytes:
        raise EncodingError(
            f'step {step} is smaller than width*channels*bytes = {row_bytes} '
            f'for a {width}x{height} {msg.encoding!r} image'
        )
    if step * height > MAX_IMAGE_BYTES:
        raise ShapeError(f'image of {step * height} bytes exceeds the {MAX_IMAGE_BYTES} limit')
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size != step * height:
        raise EncodingError(
            f'data has {buf.size} bytes, expected step*height = {step}*{height} = '
            f'{step * height} for a {width}x{height} {msg.encoding!r} image'
        )
    rows = buf.reshape(height, step)[:, :row_bytes]
    if step != row_bytes:
        rows = np.ascontiguousarray(rows)
    dtype = layout.dtype
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    arr = rows.view(dtype)
    if dtype.byteorder not in ('=', '|', _native_order()):
        arr = arr.astype(layout.dtype)
    if layout.channels == 1:
        return arr.reshape(height, width)
    return arr.reshape(height, width, layout.channels)


def _native_order() -> str:
    return '<' if sys.byteorder == 'little' else '>'


def array_to_fields(arr: np.ndarray, encoding: str) -> ImageFields:
    """Pack an array into Image fields (native byte order, no row padding).

    Args:
        arr: :math:`(H, W)` or :math:`(H, W, C)` matching ``encoding``'s dtype and channels.
        encoding: one of :data:`ENCODINGS`.

    Raises:
        EncodingError: unknown encoding or a dtype that does not match it.
        ShapeError: channel count does not match the encoding.
    """
    layout = _layout(encoding)
    if arr.dtype != layout.dtype:
        raise EncodingError(f'encoding {encoding!r} needs dtype {layout.dtype}, got {arr.dtype}')
    channels = 1 if arr.ndim == 2 else arr.shape[2] if arr.ndim == 3 else -1
    if channels != layout.channels:
        raise ShapeError(
            f'encoding {encoding!r} needs {layout.channels} channel(s), got shape {arr.shape}'
        )
    height, width = arr.shape[:2]
    data = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return ImageFields(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(sys.byteorder == 'big'),
        step=width * layout.channels * layout.dtype.itemsize,
        data=data,
    )


def to_rgb_or_grey(arr: np.ndarray, encoding: str) -> np.ndarray:
    """Normalise channel order: colour encodings to RGB :math:`(H, W, 3)`, others unchanged.

    ``8UC3`` is taken as BGR, as cv_bridge and OpenCV do.
    """
    if encoding in ('bgr8', '8UC3'):
        return arr[..., ::-1]
    if encoding == 'rgba8':
        return arr[..., :3]
    if encoding == 'bgra8':
        return arr[..., 2::-1]
    return arr


def compressed_to_array(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ...) to grey or RGB, any depth.

    Raises:
        EncodingError: the bytes are not an image OpenCV can decode (``compressedDepth`` is
            refused: it is depth, not camera, data).
    """
    import cv2

    if 'compresseddepth' in str(msg.format).lower():
        raise EncodingError(f'compressedDepth images are not supported (format {msg.format!r})')
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise EncodingError(f'cannot decode a {buf.size}-byte {msg.format!r} CompressedImage')
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else img


def decode_image(msg: Any) -> np.ndarray:
    """Pixels of a ``sensor_msgs/Image`` or ``CompressedImage``: grey :math:`(H, W)` (8/16-bit
    or float) or RGB :math:`(H, W, 3)`, whatever the wire encoding or compression.

    Raises:
        EncodingError: as :func:`image_to_array` and :func:`compressed_to_array`.
    """
    if hasattr(msg, 'format') and not hasattr(msg, 'encoding'):  # CompressedImage
        return compressed_to_array(msg)
    return to_rgb_or_grey(image_to_array(msg), msg.encoding)


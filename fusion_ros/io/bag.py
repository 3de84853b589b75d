# SPDX-License-Identifier: Apache-2.0
"""rosbag2 reading and writing through ``rosbags`` (pure Python, mcap and sqlite3).

Messages travel as raw CDR bytes wherever possible: the player publishes them as they are
and the recorder stores what it receives, so nothing is converted on the hot path.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusion_ros.errors import BagError, BagWriteError, EncodingError
from fusion_ros.io.image_msg import (
    array_to_fields,
    compressed_to_array,
    image_to_array,
    to_rgb_or_grey,
)
from fusion_ros.io.salvage import salvage_reader

__all__ = [
    'bag_in_place',
    'discard_bag',
    'BagMessage',
    'BagWriter',
    'bag_topics',
    'cdr_header_stamp',
    'read_bag',
    'remove_bag',
    'typestore',
]

IMAGE_TYPE = 'sensor_msgs/msg/Image'
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'


@functools.cache
def typestore() -> Any:
    """The rosbags typestore of every bag we write (Kilted; Image unchanged since Foxy)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def cdr_header_stamp(raw: bytes | memoryview) -> int:
    """Header stamp in ns of a CDR-serialised message whose first field is a ``std_msgs/Header``.

    Reads 8 bytes instead of deserialising a megabyte image.
    """
    if len(raw) < 12:
        raise BagError(f'CDR message of {len(raw)} bytes is too short to hold a header')
    little = raw[1] & 1  # encapsulation id 0x0001 (CDR_LE) / 0x0000 (CDR_BE)
    sec, nsec = struct.unpack_from('<iI' if little else '>iI', raw, 4)
    return sec * 1_000_000_000 + nsec


def make_header(stamp_ns: int, frame_id: str) -> Any:
    """A rosbags ``std_msgs/Header``."""
    types = typestore().types
    return types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](
            sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
        frame_id=frame_id,
    )


def make_image_msg(arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags ``sensor_msgs/Image`` holding ``arr``."""
    fields = array_to_fields(arr, encoding)
    return typestore().types[IMAGE_TYPE](header=make_header(stamp_ns, frame_id),
                                         **fields._asdict())


def remove_bag(path: Path) -> None:
    """Delete a rosbag2 directory we are about to rewrite; refuse anything that is not one."""
    if not path.exists():
        return
    if not (path.is_dir() and (path / 'metadata.yaml').exists()):
        raise BagError(f'{str(path)!r} exists and is not a rosbag2 directory; not overwriting it')
    shutil.rmtree(path)


@contextmanager
def bag_in_place(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write a bag into; it becomes ``path`` only
    when the block ends normally, and is removed when it raises (Ctrl-C included), so a
    command leaves a complete bag or none, never one that blocks its re-run. Use
    :func:`discard_bag` inside the block to end without an output.

    Raises:
        BagError: ``path`` already exists.
    """
    path = Path(path)
    if path.exists():
        raise BagError(f'output bag {str(path)!r} already exists')
    tmp = path.with_name(f'.{path.name}.partial')
    shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp.exists():
        os.replace(tmp, path)


def discard_bag(tmp: Path) -> None:
    """Drop a bag written under :func:`bag_in_place` (nothing worth keeping in it)."""
    shutil.rmtree(tmp, ignore_errors=True)


class BagWriter:
    """Write a rosbag2 (mcap by default) with one connection per topic.

    Example:
        >>> with BagWriter(path) as bag:  # doctest: +SKIP
        ...     bag.write_image('/rgb/image_raw', rgb, 'rgb8', stamp_ns, 'rgb_camera')
    """

    def __init__(self, path: Path, *, storage: str = 'mcap', version: int = 9) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise BagError(f'unknown bag storage {storage!r}; use one of {sorted(plugins)}')
        if Path(path).exists():
            raise BagError(f'output bag {str(path)!r} already exists')
        self.path = Path(path)
        self._store = typestore()
        self._writer = Writer(self.path, version=version, storage_plugin=plugins[storage])
        self._connections: dict[str, Any] = {}
        self._failed: OSError | None = None
        self.count = 0

    @property
    def types(self) -> dict[str, Any]:
        """Message classes of the writer's typestore, by ``pkg/msg/Name``."""
        return self._store.types

    def __enter__(self) -> BagWriter:
        try:
            self._writer.open()
        except Exception as err:  # rosbags raises its own WriterError and OSErrors
            raise BagError(f'cannot open {str(self.path)!r} for writing: {err}') from err
        except BaseException:
            # Ctrl-C while opening: the folder is ours (rosbags refuses an existing one) and
            # holds a storage file without metadata; leave nothing half-made behind
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._failed is not None:
            try:  # the disk is still full: closing may fail again; keep the first error
                self._writer.close()
            except Exception:  # noqa: BLE001
                pass
            return
        try:
            self._writer.close()
        except OSError as err:
            raise self._write_error(err) from err

    def _write_error(self, err: OSError) -> BagWriteError:
        self._failed = err
        return BagWriteError(
            f'cannot write {str(self.path)!r}: {err.strerror or err} (disk full?) after '
            f'{self.count} messages; what was written stays readable (fusion-ros reads a '
            'cut bag up to the damage; `ros2 bag reindex` rebuilds its metadata)')

    def _connection(self, topic: str, msgtype: str) -> Any:
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f'topic {topic!r} already holds {conn.msgtype}, not {msgtype}')
        return conn

    def write_raw(self, topic: str, msgtype: str, time_ns: int, raw: bytes | memoryview) -> None:
        """Write an already serialised (CDR) message received at ``time_ns``.

        Raises:
            BagError: the write failed (disk full, file size limit, I/O error).
        """
        if self._failed is not None:
            raise BagWriteError(f'{str(self.path)!r}: an earlier write failed ({self._failed})')
        try:
            self._writer.write(self._connection(topic, msgtype), int(time_ns), raw)
        except OSError as err:
            raise self._write_error(err) from err
        self.count += 1

    def write_msg(self, topic: str, msg: Any, time_ns: int) -> None:
        """Serialise a rosbags message object and write it."""
        raw = self._store.serialize_cdr(msg, msg.__msgtype__)
        self.write_raw(topic, msg.__msgtype__, time_ns, raw)

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        """A rosbags ``std_msgs/Header``."""
        return make_header(stamp_ns, frame_id)

    def image_msg(self, arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
        """Build a rosbags ``sensor_msgs/Image`` from an array."""
        return make_image_msg(arr, encoding, stamp_ns, frame_id)

    def compressed_msg(self, data: bytes, fmt: str, stamp_ns: int, frame_id: str) -> Any:
        """Build a rosbags ``sensor_msgs/CompressedImage`` around encoded bytes."""
        return self._store.types[COMPRESSED_TYPE](
            header=self.header(stamp_ns, frame_id), format=fmt,
            data=np.frombuffer(data, dtype=np.uint8))

    def camera_info_msg(self, width: int, height: int, stamp_ns: int, frame_id: str) -> Any:
        """An uncalibrated ``sensor_msgs/CameraInfo`` (K = 0, REP-104's 'not calibrated')."""
        types = self._store.types
        roi = types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                        width=0, do_rectify=False)
        return types[CAMERA_INFO_TYPE](
            header=self.header(stamp_ns, frame_id), height=int(height), width=int(width),
            distortion_model='', d=np.zeros(0), k=np.zeros(9), r=np.zeros(9), p=np.zeros(12),
            binning_x=0, binning_y=0, roi=roi)

    def write_image(
        self, topic: str, arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str
    ) -> None:
        """Write an image stamped (header and log time) ``stamp_ns``."""
        self.write_msg(topic, self.image_msg(arr, encoding, stamp_ns, frame_id), stamp_ns)


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag, still serialised."""

    topic: str
    msgtype: str
    time_ns: int
    raw: bytes

    @functools.cached_property
    def decoded(self) -> Any:
        """The rosbags message object, deserialised once on first use."""
        return typestore().deserialize_cdr(self.raw, self.msgtype)

    def decode(self) -> Any:
        """Deserialise into a rosbags message object (cached: see :attr:`decoded`)."""
        return self.decoded

    def header_stamp(self) -> int:
        """Header stamp in ns, read from the raw bytes (see :func:`cdr_header_stamp`)."""
        return cdr_header_stamp(self.raw)

    def image(self) -> np.ndarray:
        """Pixels of an Image or CompressedImage message: grey, or RGB channel order.

        Raises:
            EncodingError: not an image type, or pixels that cannot be decoded.
        """
        if self.msgtype == COMPRESSED_TYPE:
            return compressed_to_array(self.decode())
        if self.msgtype != IMAGE_TYPE:
            raise EncodingError(f'{self.topic} holds {self.msgtype}, not an image')
        msg = self.decode()
        return to_rgb_or_grey(image_to_array(msg), msg.encoding)


def _open_reader(path: Path) -> Any:
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import Reader as Reader2

    try:
        reader = AnyReader([Path(path)], default_typestore=typestore())
        if Path(path).is_dir() and not reader.is2:
            # AnyReader takes anything named *.bag for a ROS 1 file; a rosbag2 is a folder
            reader.is2, reader.readers = True, [Reader2(Path(path))]
        reader.open()
    except Exception as err:  # rosbags raises several unrelated error types here
        raise BagError(f'cannot read bag {str(path)!r}: {err}') from err
    return reader


def bag_topics(path: Path) -> dict[str, str]:
    """``{topic: msgtype}`` of a bag, from its metadata (no message is read); of a damaged
    bag, from the records that can still be read."""
    try:
        reader = _open_reader(path)
    except BagError:
        salvager = salvage_reader(Path(path))
        if salvager is None:
            raise
        return {topic: msgtype for topic, msgtype, _, _ in salvager}
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()


def read_bag(path: Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Yield the messages of a rosbag2 (any storage, any version) in log-time order.

    A truncated or damaged file (a recorder that lost power) is read as far as it goes
    (:mod:`fusion_ros.io.salvage`): its readable messages are yielded first, then BagError
    says what was wrong and how many messages were recovered.

    Raises:
        BagError: the path is not a bag, or the bag is damaged (after its readable part).
    """
    wanted = None if topics is None else set(topics)
    try:
        reader = _open_reader(path)
    except BagError as err:
        salvager = salvage_reader(Path(path))
        if salvager is None:
            raise
        count = 0
        for topic, msgtype, time_ns, raw in salvager:
            if wanted is None or topic in wanted:
                count += 1
                yield BagMessage(topic, msgtype, time_ns, raw)
        raise BagError(f'bag {str(path)!r} is damaged ({err}); read the {count} messages '
                       f'before the damage ({salvager.stop_reason})') from err
    count = 0
    try:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        try:
            for conn, time_ns, raw in reader.messages(connections=conns):
                count += 1
                yield BagMessage(conn.topic, conn.msgtype, time_ns, bytes(raw))
        except Exception as err:  # rosbags' own errors, sqlite3/struct errors of bad data
            raise BagError(f'bag {str(path)!r} is damaged after {count} messages: '
                           f'{type(err).__name__}: {err}') from err
    finally:
        reader.close()

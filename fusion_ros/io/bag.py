# SPDX-License-Identifier: Apache-2.0
"""rosbag2 reading and writing through ``rosbags`` (pure Python, mcap and sqlite3).

Messages travel as raw CDR bytes wherever possible: the player publishes them as they are
and the recorder stores what it receives, so nothing is converted on the hot path.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusion_ros.errors import BagError
from fusion_ros.io.image_msg import array_to_fields

__all__ = [
    'BagMessage',
    'BagWriter',
    'bag_topics',
    'cdr_header_stamp',
    'read_bag',
    'remove_bag',
    'typestore',
]

IMAGE_TYPE = 'sensor_msgs/msg/Image'


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


def remove_bag(path: Path) -> None:
    """Delete a rosbag2 directory we are about to rewrite; refuse anything that is not one."""
    if not path.exists():
        return
    if not (path.is_dir() and (path / 'metadata.yaml').exists()):
        raise BagError(f'{str(path)!r} exists and is not a rosbag2 directory; not overwriting it')
    shutil.rmtree(path)


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
        self.count = 0

    def __enter__(self) -> BagWriter:
        try:
            self._writer.open()
        except Exception as err:  # rosbags raises its own WriterError and OSErrors
            raise BagError(f'cannot open {str(self.path)!r} for writing: {err}') from err
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def _connection(self, topic: str, msgtype: str) -> Any:
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f'topic {topic!r} already holds {conn.msgtype}, not {msgtype}')
        return conn

    def write_raw(self, topic: str, msgtype: str, time_ns: int, raw: bytes | memoryview) -> None:
        """Write an already serialised (CDR) message received at ``time_ns``."""
        self._writer.write(self._connection(topic, msgtype), int(time_ns), raw)
        self.count += 1

    def write_msg(self, topic: str, msg: Any, time_ns: int) -> None:
        """Serialise a rosbags message object and write it."""
        raw = self._store.serialize_cdr(msg, msg.__msgtype__)
        self.write_raw(topic, msg.__msgtype__, time_ns, raw)

    def image_msg(self, arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
        """Build a rosbags ``sensor_msgs/Image`` from an array."""
        types = self._store.types
        fields = array_to_fields(arr, encoding)
        header = types['std_msgs/msg/Header'](
            stamp=types['builtin_interfaces/msg/Time'](
                sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)
            ),
            frame_id=frame_id,
        )
        return types[IMAGE_TYPE](header=header, **fields._asdict())

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

    def decode(self) -> Any:
        """Deserialise into a rosbags message object."""
        return typestore().deserialize_cdr(self.raw, self.msgtype)


def _open_reader(path: Path) -> Any:
    from rosbags.highlevel import AnyReader

    try:
        reader = AnyReader([Path(path)], default_typestore=typestore())
        reader.open()
    except Exception as err:  # rosbags raises several unrelated error types here
        raise BagError(f'cannot read bag {str(path)!r}: {err}') from err
    return reader


def bag_topics(path: Path) -> dict[str, str]:
    """``{topic: msgtype}`` of a bag, from its metadata (no message is read)."""
    reader = _open_reader(path)
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()


def read_bag(path: Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Yield the messages of a rosbag2 (any storage, any version) in log-time order.

    Raises:
        BagError: the path is not a readable bag.
    """
    wanted = None if topics is None else set(topics)
    reader = _open_reader(path)
    try:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, time_ns, raw in reader.messages(connections=conns):
            yield BagMessage(conn.topic, conn.msgtype, time_ns, bytes(raw))
    finally:
        reader.close()

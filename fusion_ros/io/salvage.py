# SPDX-License-Identifier: Apache-2.0
"""Read what is still readable in a truncated or damaged rosbag2 file.

A recorder killed by a power cut leaves an MCAP file without its summary and end magic, or
an sqlite3 file with missing pages. ``rosbags`` then refuses the whole file; these readers
walk the data that is there instead:

- MCAP: the records from the start, one after the other (schemas, channels, messages, and
  the records inside uncompressed chunks, a cut chunk included), until the data ends or a
  record no longer parses.
- sqlite3: the ``topics`` table, then every message row that can still be read by id (from
  a temporary copy whose header lets SQLite size the database by the file).

Both yield ``(topic, msgtype, log_time_ns, raw_cdr)`` in file order, and record in
``stop_reason`` why they stopped early (None when the file was read to its end).
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ['McapSalvage', 'SqliteSalvage', 'salvage_reader']

MCAP_MAGIC = b'\x89MCAP0\r\n'
_SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _FOOTER, _DATA_END = 0x03, 0x04, 0x05, 0x06, 0x02, 0x0F

Salvaged = tuple[str, str, int, bytes]


class _Cursor:
    """Little-endian field reader over a bytes object; IndexError/struct.error past its end."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take('<I')
        if self.pos + n > len(self.data):
            raise struct.error('string runs past the record')
        text = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return text


class McapSalvage:
    """Messages of an MCAP file read record by record from its start."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.stop_reason: str | None = None
        self.bytes_read = 0
        self._schemas: dict[int, str] = {}
        self._channels: dict[int, tuple[str, int]] = {}

    def __iter__(self) -> Iterator[Salvaged]:
        data = self.path.read_bytes()
        if not data.startswith(MCAP_MAGIC):
            self.stop_reason = 'no MCAP magic at the start'
            return
        pos = len(MCAP_MAGIC)
        while pos < len(data):
            if pos + 9 > len(data):
                self.stop_reason = f'file ends inside a record header at byte {pos}'
                break
            op, length = data[pos], struct.unpack_from('<Q', data, pos + 1)[0]
            body = data[pos + 9:pos + 9 + length]
            cut = pos + 9 + length > len(data)
            if op in (_FOOTER, _DATA_END):
                self.bytes_read = pos
                return  # the data section ended cleanly
            if op == _CHUNK:
                yield from self._chunk(body)
            elif not cut:
                yield from self._record(op, body)
            if cut:
                self.stop_reason = (f'file ends at byte {len(data)} inside a record that '
                                    f'needs {pos + 9 + length}')
                break
            pos += 9 + length
            self.bytes_read = pos
        if self.stop_reason is None:
            self.stop_reason = 'no end-of-data record (the file was not closed)'

    def _chunk(self, body: bytes) -> Iterator[Salvaged]:
        c = _Cursor(body, 8 + 8 + 8 + 4)  # start, end, uncompressed size, crc
        try:
            compression = c.string()
            c.take('<Q')  # declared length of the records; a cut chunk has fewer
        except (struct.error, UnicodeDecodeError):
            return
        if compression:
            self.stop_reason = f'a {compression!r}-compressed chunk cannot be salvaged'
            return
        records, p = body[c.pos:], 0
        while p + 9 <= len(records):
            op, length = records[p], struct.unpack_from('<Q', records, p + 1)[0]
            if p + 9 + length > len(records):
                break  # the cut record at the end of a cut chunk
            yield from self._record(op, records[p + 9:p + 9 + length])
            p += 9 + length

    def _record(self, op: int, body: bytes) -> Iterator[Salvaged]:
        c = _Cursor(body)
        try:
            if op == _SCHEMA:
                sid = c.take('<H')
                self._schemas[sid] = c.string()
            elif op == _CHANNEL:
                cid, sid = c.take('<H'), c.take('<H')
                self._channels[cid] = (c.string(), sid)
            elif op == _MESSAGE:
                cid = c.take('<H')
                c.take('<I')  # sequence
                log_time = c.take('<Q')
                c.take('<Q')  # publish time
                if cid in self._channels:
                    topic, sid = self._channels[cid]
                    yield topic, self._schemas.get(sid, ''), log_time, bytes(body[c.pos:])
        except (struct.error, UnicodeDecodeError):
            return


class SqliteSalvage:
    """Rows of an sqlite3 bag that can still be read, by message id."""

    def __init__(self, path: Path, give_up_after: int = 1000) -> None:
        self.path = Path(path)
        self.give_up_after = give_up_after
        self.stop_reason: str | None = None
        self.bad_rows = 0

    def __iter__(self) -> Iterator[Salvaged]:
        with tempfile.TemporaryDirectory(prefix='fusion_ros_salvage_') as tmp:
            yield from self._read(self._size_from_file(Path(tmp) / self.path.name))

    def _size_from_file(self, copy: Path) -> Path:
        """A copy whose header no longer vouches for its page count: SQLite then sizes the
        database by the file (a truncated file otherwise reads as malformed throughout)."""
        data = bytearray(self.path.read_bytes())
        if len(data) >= 100:
            counter = int.from_bytes(data[24:28], 'big')
            data[92:96] = ((counter + 1) % 2**32).to_bytes(4, 'big')  # version-valid-for
        copy.write_bytes(data)
        return copy

    def _read(self, path: Path) -> Iterator[Salvaged]:
        try:
            db = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
        except sqlite3.Error as err:
            self.stop_reason = f'cannot open: {err}'
            return
        try:
            try:
                topics = {i: (n, t) for i, n, t in db.execute('SELECT id, name, type FROM topics')}
            except sqlite3.Error as err:
                self.stop_reason = f'topics table unreadable: {err}'
                return
            misses, row_id = 0, 0
            while misses < self.give_up_after:
                row_id += 1
                try:
                    row = db.execute('SELECT topic_id, timestamp, data FROM messages WHERE id=?',
                                     (row_id,)).fetchone()
                except sqlite3.Error:
                    row = None
                    self.bad_rows += 1
                if row is None or row[0] not in topics:
                    misses += 1
                    continue
                misses = 0
                name, msgtype = topics[row[0]]
                yield name, msgtype, int(row[1]), bytes(row[2])
            if self.bad_rows:
                self.stop_reason = f'{self.bad_rows} damaged row(s) skipped'
        finally:
            db.close()


def salvage_reader(path: Path) -> McapSalvage | SqliteSalvage | None:
    """The salvage reader for a bag folder or file, or None for an unknown storage."""
    path = Path(path)
    files = sorted(path.glob('*.mcap')) + sorted(path.glob('*.db3')) if path.is_dir() else [path]
    if len(files) != 1:
        return None
    file = files[0]
    if file.suffix == '.mcap':
        return McapSalvage(file)
    if file.suffix == '.db3':
        return SqliteSalvage(file)
    return None

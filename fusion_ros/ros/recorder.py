# SPDX-License-Identifier: Apache-2.0
"""Record live topics into a rosbag2 (``ros2 bag record``'s job), raw CDR, off the callbacks.

Callbacks only enqueue the received bytes; a writer thread stores them, so a slow disk never
delays the executor.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile

from fusion_ros.io.bag import BagWriter, cdr_header_stamp
from fusion_ros.ros.msg_types import import_msg_type
from fusion_ros.ros.node_support import TransportLoss

__all__ = ['TopicRecorder']


class TopicRecorder:
    """Subscribe to ``topics`` (``{topic: 'pkg/msg/Type'}``) and write what arrives.

    ``from_start``: the recorder is up before every publisher, so what a publisher sent
    before its first message arrived here (its numbers start at 1) counts as lost too.

    Attributes:
        receipts: per topic, ``(header stamp ns or None, wall receipt ns)`` for each message.
        losses: per topic, the messages the middleware dropped before the recorder took them
            (gaps in each publisher's sequence numbers): a recording is never short silently.
    """

    def __init__(
        self,
        node: Node,
        out_bag: Path,
        topics: dict[str, str],
        qos: QoSProfile,
        stamped: Iterable[str] = (),
        *,
        storage: str = 'mcap',
        version: int = 9,
        from_start: bool = False,
    ) -> None:
        self._writer = BagWriter(Path(out_bag), storage=storage, version=version)
        self._queue: queue.Queue = queue.Queue()
        self._stamped = set(stamped)
        self.receipts: dict[str, list[tuple[int | None, int]]] = {t: [] for t in topics}
        self.losses = {t: TransportLoss(from_start=from_start) for t in topics}
        self._subs = [
            node.create_subscription(
                import_msg_type(msgtype), topic, self._make_cb(topic, msgtype), qos, raw=True
            )
            for topic, msgtype in topics.items()
        ]
        self._thread = threading.Thread(target=self._write, name='recorder', daemon=True)
        self._closed = False

    def _make_cb(self, topic: str, msgtype: str):
        def cb(raw: bytes) -> None:
            if self._closed:  # after the bag closed: neither written nor counted as recorded
                return
            now = time.time_ns()
            stamp = cdr_header_stamp(raw) if topic in self._stamped else None
            self.receipts[topic].append((stamp, now))
            self._queue.put((topic, msgtype, now, raw))

        return self.losses[topic].counting(cb)

    def lost(self) -> dict[str, int]:
        """Topics that lost messages before the recorder took them, with how many."""
        return {t: loss.lost for t, loss in self.losses.items() if loss.lost}

    def heard(self, topic: str) -> int:
        """Messages of ``topic`` received, or known lost on the way (a gap in the
        publisher's numbering)."""
        return len(self.receipts.get(topic, ())) + (
            self.losses[topic].lost if topic in self.losses else 0)

    def publisher_count(self, topics: Iterable[str] | None = None) -> int:
        """Smallest number of matched publishers over the subscriptions (of ``topics``)."""
        subs = [s for s in self._subs if topics is None or s.topic_name in set(topics)]
        return min((s.get_publisher_count() for s in subs), default=0)

    def __enter__(self) -> TopicRecorder:
        self._writer.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._writer.__exit__(*exc)

    @property
    def count(self) -> int:
        """Messages received so far."""
        return sum(len(r) for r in self.receipts.values())

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            self._writer.write_raw(*item)

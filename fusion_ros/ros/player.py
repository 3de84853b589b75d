# SPDX-License-Identifier: Apache-2.0
"""Play a rosbag2 onto live topics with the recorded timing (``ros2 bag play``'s job).

Messages are published as the raw CDR bytes stored in the bag: no deserialisation, any type.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile

from fusion_ros.io.bag import BagMessage, bag_topics, read_bag
from fusion_ros.ros.msg_types import import_msg_type

__all__ = ['BagPlayer']


class BagPlayer:
    """Publish a bag's messages on ``node``.

    Args:
        node: the node that owns the publishers.
        bag: rosbag2 directory.
        qos: QoS of every publisher (cameras publish best effort: ``sensor_data``).
        topics: only these topics; None for all.
        rate: playback speed factor (2.0 plays twice as fast).
    """

    def __init__(
        self,
        node: Node,
        bag: Path,
        qos: QoSProfile,
        topics: Iterable[str] | None = None,
        rate: float = 1.0,
    ) -> None:
        if not rate > 0:
            raise ValueError(f'rate must be > 0, got {rate!r}')
        self.node, self.bag, self.qos, self.rate = node, Path(bag), qos, rate
        self.topics = None if topics is None else list(topics)
        self._pubs: dict[str, object] = {}

    def publisher(self, topic: str, msgtype: str) -> object:
        pub = self._pubs.get(topic)
        if pub is None:
            pub = self.node.create_publisher(import_msg_type(msgtype), topic, self.qos)
            self._pubs[topic] = pub
        return pub

    def prepare(self) -> int:
        """Create the publishers up front (so subscribers can match); return their count."""
        for topic, msgtype in bag_topics(self.bag).items():
            if self.topics is None or topic in self.topics:
                self.publisher(topic, msgtype)
        return len(self._pubs)

    def subscriber_count(self) -> int:
        """Smallest number of matched subscriptions over the publishers."""
        return min((p.get_subscription_count() for p in self._pubs.values()), default=0)

    def play(
        self,
        on_publish: Callable[[BagMessage, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Publish everything with the recorded spacing; return the number published.

        ``on_publish(message, wall_time_ns)`` is called right after each publish.
        """
        start_wall = time.monotonic()
        first = None
        count = 0
        for msg in read_bag(self.bag, self.topics):
            if should_stop is not None and should_stop():
                break
            if first is None:
                first = msg.time_ns
            due = start_wall + (msg.time_ns - first) / 1e9 / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.publisher(msg.topic, msg.msgtype).publish(msg.raw)
            count += 1
            if on_publish is not None:
                on_publish(msg, time.time_ns())
        return count

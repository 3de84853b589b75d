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

from fusion_ros.errors import ConfigError
from fusion_ros.io.bag import BagMessage, bag_topics, read_bag
from fusion_ros.ros.msg_types import import_msg_type

__all__ = ['MATCH_SETTLE_S', 'BagPlayer']

# Discovery is two-sided: a writer lists a reader as matched a moment before that reader has
# matched the writer, and a best-effort reader drops what comes from a writer it has not
# matched yet. Played at once, a loaded CI machine's fusion node missed the first 3 of 24
# frames (no gap it could see); this long after the match, the reader has matched too.
MATCH_SETTLE_S = 1.0


class BagPlayer:
    """Publish a bag's messages on ``node``.

    Args:
        node: the node that owns the publishers.
        bag: rosbag2 directory.
        qos: QoS of every publisher (cameras publish best effort: ``sensor_data``).
        topics: only these topics; None for all.
        rate: playback speed factor (2.0 plays twice as fast).
        start_s: skip the first ``start_s`` seconds of the bag.
        duration_s: play at most this many seconds of the bag (None: to the end).
        loop: play again from ``start_s`` when the end is reached, until stopped.
        clock_hz: also publish ``/clock`` (bag time) at this rate and with every message,
            for nodes run with ``use_sim_time``; 0 disables it.
        monotonic, sleep: the wall clock the schedule runs on (a test passes a simulated
            one, to check the schedule whatever the machine's load).
    """

    def __init__(
        self,
        node: Node,
        bag: Path,
        qos: QoSProfile,
        topics: Iterable[str] | None = None,
        rate: float = 1.0,
        *,
        start_s: float = 0.0,
        duration_s: float | None = None,
        loop: bool = False,
        clock_hz: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ConfigError(f'rate must be > 0, got {rate!r}')
        if start_s < 0 or (duration_s is not None and not duration_s > 0):
            raise ConfigError(f'start must be >= 0 and duration > 0, got {start_s!r}, '
                              f'{duration_s!r}')
        if clock_hz < 0:
            raise ConfigError(f'clock rate must be >= 0 Hz, got {clock_hz!r}')
        self.node, self.bag, self.qos, self.rate = node, Path(bag), qos, rate
        self.topics = None if topics is None else list(topics)
        self.start_ns = int(start_s * 1e9)
        self.duration_ns = None if duration_s is None else int(duration_s * 1e9)
        self.loop, self.clock_hz = loop, clock_hz
        self._monotonic, self._sleep = monotonic, sleep
        self._pubs: dict[str, object] = {}
        self._types: dict[str, str] = {}
        self._clock_pub = None
        if clock_hz > 0:
            from rclpy.qos import QoSProfile as Profile
            from rosgraph_msgs.msg import Clock

            self._clock_msg = Clock()
            self._clock_pub = node.create_publisher(Clock, '/clock', Profile(depth=1))

    def publisher(self, topic: str, msgtype: str) -> object:
        pub = self._pubs.get(topic)
        if pub is None:
            pub = self.node.create_publisher(import_msg_type(msgtype), topic, self.qos)
            self._pubs[topic], self._types[topic] = pub, msgtype
        return pub

    def prepare(self) -> int:
        """Create the publishers up front (so subscribers can match); return their count."""
        for topic, msgtype in bag_topics(self.bag).items():
            if self.topics is None or topic in self.topics:
                self.publisher(topic, msgtype)
        return len(self._pubs)

    def subscriber_count(self, topics: Iterable[str] | None = None) -> int:
        """Smallest number of matched subscriptions over the publishers (of ``topics``)."""
        pubs = self._pubs.values() if topics is None else [
            p for t, p in self._pubs.items() if t in set(topics)]
        return min((p.get_subscription_count() for p in pubs), default=0)

    def wait_for_subscribers(self, timeout_s: float, topics: Iterable[str] | None = None,
                             should_stop: Callable[[], bool] | None = None) -> bool:
        """Wait up to ``timeout_s`` until each publisher (of ``topics``) has a subscriber,
        then :data:`MATCH_SETTLE_S` for the subscribers to match it in turn; False when
        nobody subscribed in time or ``should_stop()`` said so."""
        deadline = self._monotonic() + timeout_s
        while self.subscriber_count(topics) < 1:
            if (should_stop is not None and should_stop()) or self._monotonic() > deadline:
                return False
            self._sleep(0.05)
        settled = self._monotonic() + MATCH_SETTLE_S
        while (left := settled - self._monotonic()) > 0:
            if should_stop is not None and should_stop():
                return False
            self._sleep(min(left, 0.05))
        return True

    def wait_for_acknowledged(self, timeout_s: float) -> bool:
        """Wait until every reliable subscriber has acknowledged what was published (best
        effort publishers have nothing to wait for); False on timeout."""
        from rclpy.duration import Duration
        from rclpy.qos import ReliabilityPolicy

        if self.qos.reliability != ReliabilityPolicy.RELIABLE:
            return True
        wait = Duration(nanoseconds=int(timeout_s * 1e9))
        return all(p.wait_for_all_acked(wait) for p in self._pubs.values())

    def prepared_types(self) -> dict[str, str]:
        """``{topic: msgtype}`` of the publishers made so far."""
        return dict(self._types)

    def image_topics(self) -> list[str]:
        """The prepared topics that carry images (what a fusion node must hear before play;
        CameraInfo and other side topics may have no subscriber at all)."""
        return [t for t, m in self._types.items()
                if m.endswith(('/Image', '/CompressedImage'))]

    def _publish_clock(self, bag_ns: int) -> None:
        if self._clock_pub is not None:
            self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = divmod(bag_ns,
                                                                              1_000_000_000)
            self._clock_pub.publish(self._clock_msg)

    def _wait_until(self, due: float, bag_ns_at: Callable[[float], int],
                    should_stop: Callable[[], bool] | None) -> bool:
        """Sleep until ``due`` (monotonic), ticking /clock; False when asked to stop."""
        tick = 1.0 / self.clock_hz if self._clock_pub is not None else 0.05
        while (delay := due - self._monotonic()) > 0:
            if should_stop is not None and should_stop():
                return False
            self._sleep(min(delay, tick))
            if self._clock_pub is not None and due - self._monotonic() > 0:
                self._publish_clock(bag_ns_at(self._monotonic()))
        return True

    def play(
        self,
        on_publish: Callable[[BagMessage, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_pass: Callable[[int, int], None] | None = None,
    ) -> int:
        """Publish with the recorded spacing (once, or until stopped with ``loop``); return
        the number of messages published.

        ``on_publish(message, wall_time_ns)`` is called right after each publish, and
        ``on_pass(passes, messages)`` after each whole pass through the bag.
        """
        count = passes = 0
        while True:
            played = self._play_once(on_publish, should_stop)
            count += played
            if played and not (should_stop is not None and should_stop()):
                passes += 1
                if on_pass is not None:
                    on_pass(passes, count)
            if not self.loop or played == 0 or (should_stop is not None and should_stop()):
                return count

    def _play_once(self, on_publish: Callable[[BagMessage, int], None] | None,
                   should_stop: Callable[[], bool] | None) -> int:
        start_wall = 0.0
        first = begin = None
        count = 0
        for msg in read_bag(self.bag, self.topics):
            if should_stop is not None and should_stop():
                break
            if first is None:
                first = msg.time_ns
            if msg.time_ns - first < self.start_ns:
                continue
            if begin is None:  # the clock starts at the first message, after the bag opened
                begin, start_wall = first + self.start_ns, self._monotonic()
            offset = msg.time_ns - begin
            if self.duration_ns is not None and offset > self.duration_ns:
                break
            due = start_wall + offset / 1e9 / self.rate

            def bag_ns_at(now: float, begin: int = begin, start_wall: float = start_wall) -> int:
                return begin + int((now - start_wall) * self.rate * 1e9)

            if not self._wait_until(due, bag_ns_at, should_stop):
                break
            self._publish_clock(msg.time_ns)
            self.publisher(msg.topic, msg.msgtype).publish(msg.raw)
            count += 1
            if on_publish is not None:
                on_publish(msg, time.time_ns())
        return count

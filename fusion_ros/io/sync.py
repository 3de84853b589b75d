# SPDX-License-Identifier: Apache-2.0
"""Approximate-time synchronisation with message_filters' semantics, without rclpy.

Follows ``message_filters.ApproximateTimeSynchronizer`` (Python, Humble..Jazzy) step by step,
so users who tuned ``queue_size`` and ``slop`` there get the same pairs here:

1. each input keeps a dict ``stamp -> message`` (a duplicate stamp replaces);
2. beyond ``queue_size`` entries the SMALLEST stamp is evicted (not the oldest arrival);
3. for every other input, candidates with ``|s - t| <= slop`` (inclusive) sorted by distance;
4. the cartesian product (first other input varies slowest) is walked and the first tuple
   with ``max - min < slop`` (strict) whose every stamp is still queued is emitted and
   removed from the queues. Step 2 may have evicted the arriving message itself (it came
   later than its whole queue): then nothing is emitted and the message is dropped.

Shared by the fusion node and the offline bag tools, so both make the same pairs.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from fusion_ros.errors import ConfigError

__all__ = ['POLICIES', 'ApproximateTimeSynchronizer', 'NearestSynchronizer', 'StreamPairer',
           'TimeJumpDetector']

POLICIES = ('approximate', 'nearest')


class ApproximateTimeSynchronizer:
    """Pair messages from several inputs whose stamps lie within ``slop`` of each other.

    Args:
        num_inputs: number of inputs (2 for thermal + RGB).
        queue_size: messages kept per input.
        slop_s: maximum stamp spread of a set, in seconds (strict for the set, inclusive
            for candidates, exactly as message_filters).
        callback: called with the matched messages in input order; optional, ``add``
            returns the set too.
    """

    def __init__(
        self,
        num_inputs: int,
        queue_size: int,
        slop_s: float,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        if num_inputs < 2:
            raise ConfigError(f'num_inputs must be >= 2, got {num_inputs!r}')
        if queue_size < 1:
            raise ConfigError(f'queue_size must be >= 1, got {queue_size!r}')
        if not slop_s >= 0.0:
            raise ConfigError(f'slop must be >= 0 seconds, got {slop_s!r}')
        self.queue_size = int(queue_size)
        self.slop_ns = int(round(slop_s * 1e9))
        self._callback = callback
        self._queues: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._lock = threading.Lock()

    def add(self, index: int, stamp_ns: int, msg: Any) -> tuple[Any, ...] | None:
        """Add ``msg`` stamped ``stamp_ns`` on input ``index``; return the set it completes."""
        with self._lock:
            matched = self._add_locked(index, int(stamp_ns), msg)
        if matched is not None and self._callback is not None:
            self._callback(*matched)
        return matched

    def _add_locked(self, index: int, stamp: int, msg: Any) -> tuple[Any, ...] | None:
        queue = self._queues[index]
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        if stamp not in queue:
            # arrived later than everything queued on its input and was evicted at once;
            # message_filters' "every stamp still queued" check rejects every set then
            return None

        candidates: list[list[int]] = []
        for j, other in enumerate(self._queues):
            if j == index:
                continue
            near = [s for s in other if abs(s - stamp) <= self.slop_ns]
            if not near:
                return None
            near.sort(key=lambda s: abs(s - stamp))  # stable, as list.sort always is
            candidates.append(near)

        for combo in itertools.product(*candidates):
            stamps = list(combo)
            stamps.insert(index, stamp)
            if max(stamps) - min(stamps) < self.slop_ns:
                return tuple(q.pop(s) for q, s in zip(self._queues, stamps))
        return None

    def reset(self) -> None:
        """Forget every queued message (after a time jump, for example)."""
        with self._lock:
            for queue in self._queues:
                queue.clear()

    def queued(self) -> Sequence[int]:
        """Number of messages waiting per input."""
        with self._lock:
            return [len(q) for q in self._queues]


class NearestSynchronizer:
    """Pair every frame of a slow anchor input with the nearest frame of a fast one.

    The rig this is for: a thermal camera at 8.7-9 Hz beside an RGB camera at 30 Hz. With
    message_filters' semantics the RGB frame that completes a set first wins, which need not
    be the one nearest the thermal frame; here each anchor frame waits until a partner frame
    stamped at or after it has arrived (or until its slop window has passed), then takes the
    partner nearest in time if it lies within ``slop`` (strict, as message_filters), else it
    is dropped. Partners older than the one used are discarded. Two inputs only.

    Args:
        queue_size: partner frames kept, and anchor frames waiting.
        slop_s: largest stamp difference of a pair, seconds.
        callback: called with ``(anchor_msg, partner_msg)`` in input order.
        anchor: index of the slow input (0: thermal).
    """

    def __init__(self, queue_size: int, slop_s: float,
                 callback: Callable[..., Any] | None = None, anchor: int = 0) -> None:
        if queue_size < 1:
            raise ConfigError(f'queue_size must be >= 1, got {queue_size!r}')
        if not slop_s >= 0.0:
            raise ConfigError(f'slop must be >= 0 seconds, got {slop_s!r}')
        self.queue_size, self.slop_ns = int(queue_size), int(round(slop_s * 1e9))
        self.anchor = anchor
        self._callback = callback
        self._anchors: dict[int, Any] = {}
        self._partners: dict[int, Any] = {}
        self._lock = threading.Lock()

    def add(self, index: int, stamp_ns: int, msg: Any) -> tuple[Any, ...] | None:
        """Add one message; return the (last) pair it completes, in input order."""
        with self._lock:
            queue = self._anchors if index == self.anchor else self._partners
            queue[int(stamp_ns)] = msg
            while len(queue) > self.queue_size:
                del queue[min(queue)]
            pairs = self._match()
        for pair in pairs:
            if self._callback is not None:
                self._callback(*pair)
        return pairs[-1] if pairs else None

    def _match(self) -> list[tuple[Any, ...]]:
        pairs = []
        for t in sorted(self._anchors):
            if not self._partners:
                break
            if max(self._partners) < t:
                break  # no partner at or after t yet: a nearer one may still come
            s = min(self._partners, key=lambda p: (abs(p - t), p))
            anchor = self._anchors.pop(t)
            if abs(s - t) < self.slop_ns:
                partner = self._partners.pop(s)
                for old in [p for p in self._partners if p < s]:
                    del self._partners[old]
                pairs.append((anchor, partner) if self.anchor == 0 else (partner, anchor))
        return pairs

    def reset(self) -> None:
        """Forget every queued message."""
        with self._lock:
            self._anchors.clear()
            self._partners.clear()

    def queued(self) -> Sequence[int]:
        """Messages waiting per input."""
        with self._lock:
            counts = [len(self._anchors), len(self._partners)]
        return counts if self.anchor == 0 else counts[::-1]


class TimeJumpDetector:
    """Notice stamps jumping backwards (a looping bag, a restarted driver, a clock reset).

    message_filters would keep the stale future-stamped messages queued and pair nothing
    until they are evicted; callers reset the synchronizer when :meth:`check` says so.

    Each input is held to its own newest stamp: an input lagging behind the other (a backlog
    a loaded node is still working through) is not a jump, and treating it as one reset the
    synchronizer at every lagging message, pairing nothing. After a jump the other inputs
    start afresh, so their own first message of the new time line is not a second jump.

    Args:
        threshold_s: how far behind its input's newest stamp counts as a jump; smaller steps
            back are ordinary out-of-order arrivals.
    """

    def __init__(self, threshold_s: float = 1.0) -> None:
        self.threshold_ns = int(threshold_s * 1e9)
        self.newest: dict[int, int] = {}

    def check(self, stamp_ns: int, index: int = 0) -> bool:
        """Record ``stamp_ns`` of input ``index``; True when it jumped back (that input's
        newest stamp restarts there, the others' are forgotten)."""
        newest = self.newest.get(index)
        if newest is not None and stamp_ns < newest - self.threshold_ns:
            self.newest = {index: stamp_ns}
            return True
        if newest is None or stamp_ns > newest:
            self.newest[index] = stamp_ns
        return False


class StreamPairer:
    """The synchronizer as the node and the bag tools run it: reset when stamps jump back.

    One object, so a live stream and its recording are paired identically.

    Args:
        num_inputs, queue_size, slop_s, callback: as :class:`ApproximateTimeSynchronizer`.
        on_jump: called with the stamp (ns) that jumped back, after the reset.
        policy: ``approximate`` (message_filters' ApproximateTime, default) or ``nearest``
            (each frame of input 0, the slow thermal camera, with its nearest input-1 frame:
            :class:`NearestSynchronizer`; two inputs only).

    Attributes:
        time_jumps: resets so far.
    """

    def __init__(self, num_inputs: int, queue_size: int, slop_s: float,
                 callback: Callable[..., Any] | None = None,
                 on_jump: Callable[[int], None] | None = None,
                 policy: str = 'approximate') -> None:
        if policy not in POLICIES:
            raise ConfigError(f'sync policy must be one of {POLICIES}, got {policy!r}')
        if policy == 'nearest' and num_inputs != 2:
            raise ConfigError('sync policy nearest pairs exactly two inputs')
        self.sync: ApproximateTimeSynchronizer | NearestSynchronizer = (
            NearestSynchronizer(queue_size, slop_s, callback) if policy == 'nearest'
            else ApproximateTimeSynchronizer(num_inputs, queue_size, slop_s, callback))
        self.jumps = TimeJumpDetector()
        self.on_jump = on_jump
        self.time_jumps = 0

    def add(self, index: int, stamp_ns: int, msg: Any) -> tuple[Any, ...] | None:
        """Add one message; return the set it completes (see the synchronizer)."""
        if self.jumps.check(stamp_ns, index):  # looping bag, restarted driver: start afresh
            self.sync.reset()
            self.time_jumps += 1
            if self.on_jump is not None:
                self.on_jump(stamp_ns)
        return self.sync.add(index, stamp_ns, msg)

    def reset(self) -> None:
        """Forget queued messages and the newest stamp seen."""
        self.sync.reset()
        self.jumps = TimeJumpDetector()

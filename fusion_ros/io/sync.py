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

__all__ = ['ApproximateTimeSynchronizer', 'StreamPairer', 'TimeJumpDetector']


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


class TimeJumpDetector:
    """Notice stamps jumping backwards (a looping bag, a restarted driver, a clock reset).

    message_filters would keep the stale future-stamped messages queued and pair nothing
    until they are evicted; callers reset the synchronizer when :meth:`check` says so.

    Args:
        threshold_s: how far behind the newest stamp seen (on any input) counts as a jump;
            smaller steps back are ordinary out-of-order arrivals.
    """

    def __init__(self, threshold_s: float = 1.0) -> None:
        self.threshold_ns = int(threshold_s * 1e9)
        self.newest: int | None = None

    def check(self, stamp_ns: int) -> bool:
        """Record ``stamp_ns``; True when it jumped back (the newest stamp restarts there)."""
        jumped = self.newest is not None and stamp_ns < self.newest - self.threshold_ns
        if jumped or self.newest is None or stamp_ns > self.newest:
            self.newest = stamp_ns
        return jumped


class StreamPairer:
    """The synchronizer as the node and the bag tools run it: reset when stamps jump back.

    One object, so a live stream and its recording are paired identically.

    Args:
        num_inputs, queue_size, slop_s, callback: as :class:`ApproximateTimeSynchronizer`.
        on_jump: called with the stamp (ns) that jumped back, after the reset.

    Attributes:
        time_jumps: resets so far.
    """

    def __init__(self, num_inputs: int, queue_size: int, slop_s: float,
                 callback: Callable[..., Any] | None = None,
                 on_jump: Callable[[int], None] | None = None) -> None:
        self.sync = ApproximateTimeSynchronizer(num_inputs, queue_size, slop_s, callback)
        self.jumps = TimeJumpDetector()
        self.on_jump = on_jump
        self.time_jumps = 0

    def add(self, index: int, stamp_ns: int, msg: Any) -> tuple[Any, ...] | None:
        """Add one message; return the set it completes (see the synchronizer)."""
        if self.jumps.check(stamp_ns):  # looping bag or restarted driver: start afresh
            self.sync.reset()
            self.time_jumps += 1
            if self.on_jump is not None:
                self.on_jump(stamp_ns)
        return self.sync.add(index, stamp_ns, msg)

    def reset(self) -> None:
        """Forget queued messages and the newest stamp seen."""
        self.sync.reset()
        self.jumps = TimeJumpDetector()

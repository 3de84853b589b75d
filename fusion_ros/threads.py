# SPDX-License-Identifier: Apache-2.0
"""How many CPU threads a process that runs a model uses: one setting for the nodes, the
CLIs, the engine and the trainer.

A robot's computer runs drivers, a detector, a planner and a recorder beside the fusion
node: a free core is the exception. With one OpenMP thread per core, torch's engine became
50x slower the moment another process held a core (its threads spin at every barrier on a
thread that is not running: FastFusion 26 -> 1500 ms a frame, 9 of 200 pairs fused), and one
thread is half as fast on a quiet machine (53 ms: 180 of 200 at 20 Hz). Measured on a 2-core
EPYC, docs/BENCHMARKS.md "A busy computer". So ``auto``:

- torch in the fusion engine (:class:`ThreadGovernor`): every usable CPU while that is the
  fastest, one thread fewer as soon as frames slow down (others took a core), and a probe
  now and then, backing off while it keeps failing, that takes the threads back once the
  machine is quiet again;
- ONNX Runtime / OpenVINO networks: every usable CPU (OpenVINO's pool does not collapse:
  PIAFusion 3.9 s with 2 threads against 5.0 s with 1 under the same load);
- the detector node: half the usable CPUs, so the two nodes of a stack never both claim
  every core.

"Usable" is this process's affinity mask (``taskset``, a container's CPU set), not the
machine's count. An explicit number means exactly that. No heavy imports: the CLIs parse
the setting before loading torch.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from fusion_ros.errors import ConfigError

__all__ = ['THREADS_AUTO', 'ThreadGovernor', 'Threads', 'apply_threads', 'parse_threads',
           'resolve_threads', 'set_thread_count', 'usable_cpus']

THREADS_AUTO = 'auto'


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's or ``taskset``'s
    limit, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Threads:
    """A resolved setting: ``count`` threads (the most, when ``adaptive``), and how they
    were chosen."""

    count: int
    how: str
    adaptive: bool = False

    def describe(self) -> str:
        """``'2 (auto: up to 2 usable CPUs, ...)'``: for logs and /diagnostics."""
        return f'{self.count} ({self.how})'


def parse_threads(value: int | str | None) -> int | str:
    """``auto`` (also None, '' or 0, the node parameter's value for it) or a count >= 1."""
    if value is None or value == '' or value == 0 or value == THREADS_AUTO:
        return THREADS_AUTO
    try:
        count = int(value)  # '2' from a command line
    except (TypeError, ValueError):
        raise ConfigError(f'threads must be auto or a number >= 1, got {value!r}') from None
    if count < 1 or isinstance(value, bool) or (isinstance(value, float) and value != count):
        raise ConfigError(f'threads must be auto or a number >= 1, got {value!r}')
    return count


def resolve_threads(value: int | str | None, cpus: int | None = None, *,
                    adaptive: bool = True) -> Threads:
    """The threads a setting means on this machine (``cpus``: usable CPUs, default
    :func:`usable_cpus`). ``auto`` is adaptive, up to every usable CPU, for a caller that
    runs a :class:`ThreadGovernor`; with ``adaptive=False`` it is half of them."""
    setting = parse_threads(value)
    if setting != THREADS_AUTO:
        return Threads(int(setting), 'as set')
    cpus = usable_cpus() if cpus is None else cpus
    if adaptive:
        return Threads(cpus, f'auto: up to {cpus} usable CPUs, fewer while other processes '
                       'keep them busy', adaptive=True)
    return Threads(max(1, cpus // 2), f'auto: half of {cpus} usable CPUs')


def apply_threads(threads: Threads) -> None:
    """Give torch's intra-op pool and OpenCV's pool ``threads.count`` threads. Process-wide:
    threads a process starts afterwards (a node's worker) take it at their first parallel
    region."""
    set_thread_count(threads.count)


def set_thread_count(count: int) -> None:
    """torch's intra-op threads and OpenCV's together: the models' filters run in OpenCV
    at inference (``ops.filters.box_blur``), so the governor must move both."""
    import cv2
    import torch

    torch.set_num_threads(count)
    cv2.setNumThreads(count)


class ThreadGovernor:
    """Adapts the intra-op threads of the one thread that runs a model to contention.

    Feed it the time of each inference (:meth:`frame`, on the inference thread: OpenMP's
    thread count belongs to the thread that sets it). It keeps ``count`` threads while
    frames take what they took; two frames in a row over ``slow`` x the settled time mean
    another process took a core, and it tries one thread fewer. After its first
    ``first_probe`` frames it tries one thread fewer, and later a neighbouring count (more
    threads first) for ``probe_frames`` frames, keeping it when that is at least ``gain``
    faster: so a machine already busy when the node starts is found within a few frames,
    however slow they are. A probe frame over ``slow`` x the settled time ends the probe at
    once. Trying fewer threads costs little (one frame at half speed on a quiet machine):
    every ``probe_every_s`` seconds; trying more on a busy machine costs a whole stalled
    frame (1.5 s for FastFusion on 2 cores): every ``probe_up_every_s``. Each failed probe
    doubles its wait, up to ``max_backoff`` x.

    Args:
        most: the most threads (and the start).
        apply: sets the thread count (torch's ``set_num_threads``).
        clock: seconds, monotonic (tests pass a simulated one).
    """

    def __init__(self, most: int, apply: Callable[[int], None], *,
                 clock: Callable[[], float] = time.monotonic, first_probe: int = 2,
                 probe_every_s: float = 2.0, probe_up_every_s: float = 15.0,
                 probe_frames: int = 3, slow: float = 1.5, gain: float = 0.9,
                 max_backoff: int = 32) -> None:
        if most < 1:
            raise ConfigError(f'threads must be >= 1, got {most}')
        self.most, self._apply, self._clock = most, apply, clock
        self.probe_every_s, self.probe_up_every_s = probe_every_s, probe_up_every_s
        self.probe_frames = probe_frames
        self.slow, self.gain, self.max_backoff = slow, gain, max_backoff
        self.count = most
        self.settled_ms: float | None = None  # the median of recent frames at ``count``
        self.probing: int | None = None  # the count on trial
        self.changes = 0  # switches kept (for /diagnostics)
        self._recent: list[float] = []
        self._trial: list[float] = []
        self._slow_in_a_row = 0
        self._backoff = {True: 1, False: 1}  # by direction: up (more threads) or down
        self._frames_to_first_probe = first_probe
        self._next_probe_at: dict[bool, float] | None = None  # after the first probe: by clock

    def describe(self) -> str:
        return (f'{self.count} of up to {self.most} (auto: fewer while other processes keep '
                'CPUs busy)')

    @property
    def calibrated(self) -> bool:
        """Whether the first probe has ended (a warm-up runs frames until it has)."""
        return self._next_probe_at is not None or self.most == 1

    def begin(self) -> None:
        """Set the current count on the calling thread (the inference thread: OpenMP's count
        belongs to the thread, and a model swapped in at run time finds the worker still at
        what the old engine's governor had chosen)."""
        self._apply(self.count)

    def frame(self, ms: float) -> None:
        """One inference took ``ms``; may change the thread count for the next."""
        if self.probing is not None:
            self._probe_frame(ms)
            return
        settled = self.settled_ms
        if settled is not None and ms > self.slow * settled:
            self._slow_in_a_row += 1
            if self._slow_in_a_row >= 2 and self.count > 1:
                # others took a core: the settled time is history; try one thread fewer now
                self.settled_ms = ms
                self._start_probe(self.count - 1)
                return
        else:
            self._slow_in_a_row = 0
        self._recent = (self._recent + [ms])[-5:]
        self.settled_ms = statistics.median(self._recent)
        if self.most == 1:
            return
        if self._next_probe_at is None:  # the first: one thread fewer, a few frames in
            self._frames_to_first_probe -= 1
            if self._frames_to_first_probe <= 0:
                self._start_probe(self.count - 1)
            return
        now = self._clock()
        for up in (True, False):  # more threads first
            target = self.count + 1 if up else self.count - 1
            if 1 <= target <= self.most and now >= self._next_probe_at[up]:
                self._start_probe(target)
                return

    def _start_probe(self, count: int) -> None:
        self.probing, self._trial, self._slow_in_a_row = count, [], 0
        self._apply(count)

    def _probe_frame(self, ms: float) -> None:
        assert self.probing is not None and self.settled_ms is not None
        if ms > self.slow * self.settled_ms:
            self._end_probe(keep=False)  # one slow frame is enough: back at once
            return
        self._trial.append(ms)
        if len(self._trial) >= self.probe_frames:
            median = statistics.median(self._trial)
            self._end_probe(keep=median < self.gain * self.settled_ms, median=median)

    def _end_probe(self, keep: bool, median: float | None = None) -> None:
        assert self.probing is not None
        up = self.probing > self.count
        if keep:
            self.count, self.settled_ms, self._recent = self.probing, median, [median or 0.0]
            self.changes += 1
            self._backoff = {True: 1, False: 1}
        else:
            self._apply(self.count)
            self._backoff[up] = min(self._backoff[up] * 2, self.max_backoff)
        self.probing = None
        now = self._clock()
        if self._next_probe_at is None:
            self._next_probe_at = {True: now, False: now}
        for direction in (True, False):
            if keep or direction == up:
                every = self.probe_up_every_s if direction else self.probe_every_s
                self._next_probe_at[direction] = now + every * self._backoff[direction]

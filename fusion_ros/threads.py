# SPDX-License-Identifier: Apache-2.0
"""How many CPU threads a process that runs a model uses: one setting for the nodes, the
CLIs, the engine and the trainer.

``auto`` is half the CPUs this process may use (``os.sched_getaffinity``), at least one. A
robot's computer runs drivers, a detector, a planner and a recorder beside the fusion node:
with one OpenMP thread per core, the engine became 6x slower the moment another process took
a core (its threads wait on a thread that is not running) and the node fused 73 of 200
pairs; with half the cores it held 200 of 200 (docs/BENCHMARKS.md, "A busy computer"). The
two nodes of one stack each take half, so neither claims every core. An explicit number
means exactly that. No heavy imports: the CLIs parse the setting before loading torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fusion_ros.errors import ConfigError

__all__ = ['THREADS_AUTO', 'Threads', 'apply_threads', 'parse_threads', 'resolve_threads',
           'usable_cpus']

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
    """A resolved setting: ``count`` threads, and how they were chosen."""

    count: int
    how: str

    def describe(self) -> str:
        """``'1 (auto: half of 2 usable CPUs)'``: for logs and /diagnostics."""
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


def resolve_threads(value: int | str | None, cpus: int | None = None) -> Threads:
    """The thread count a setting means on this machine (``cpus``: usable CPUs, default
    :func:`usable_cpus`)."""
    setting = parse_threads(value)
    if setting == THREADS_AUTO:
        cpus = usable_cpus() if cpus is None else cpus
        return Threads(max(1, cpus // 2), f'auto: half of {cpus} usable CPUs')
    return Threads(int(setting), 'as set')


def apply_threads(threads: Threads) -> None:
    """Give torch's intra-op pool and OpenCV's pool ``threads.count`` threads. Process-wide:
    threads a process starts afterwards (a node's worker) take it at their first parallel
    region."""
    import cv2
    import torch

    torch.set_num_threads(threads.count)
    cv2.setNumThreads(threads.count)

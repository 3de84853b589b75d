# SPDX-License-Identifier: Apache-2.0
"""A busy computer on demand: plain busy-loop processes that hold CPUs while a benchmark
runs (``bench ... --load N``), so contended numbers are one command anyone can repeat.
They never outlive the run: stopped on exit, and killed by the kernel if the parent dies
first, even by SIGKILL (Linux)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

__all__ = ['PARENT_PID_ENV', 'busy_load', 'die_with_parent', 'parent_gone']

# set by a parent that starts a node with die_with_parent: the pid the node must outlive
PARENT_PID_ENV = 'FUSION_ROS_PARENT_PID'

BUSY_LOOP = 'while True: pass'


def die_with_parent() -> None:
    """In a child before exec: SIGTERM it when its parent dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG; elsewhere a no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parent_gone() -> bool:
    """Whether the parent named in ``FUSION_ROS_PARENT_PID`` has ended (this process was
    handed to init); False when none is named. The backstop to die_with_parent's signal,
    which a node can miss while it starts: one bringup killed during a loaded suite left its
    fusion node spinning for minutes, serving the next tests' streams."""
    named = os.environ.get(PARENT_PID_ENV, '')
    return named.isdigit() and os.getppid() != int(named)


@contextlib.contextmanager
def busy_load(processes: int) -> Iterator[list[subprocess.Popen]]:
    """``processes`` busy loops (one CPU each, as a plain Python loop competing as an
    equal) for the length of the block; yields them."""
    if processes < 0:
        raise ValueError(f'load must be >= 0 processes, got {processes}')
    loops: list[subprocess.Popen] = []
    try:
        for _ in range(processes):
            loops.append(subprocess.Popen([sys.executable, '-c', BUSY_LOOP],
                                          stdin=subprocess.DEVNULL, preexec_fn=die_with_parent))
        yield loops
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()

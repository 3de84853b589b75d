# SPDX-License-Identifier: Apache-2.0
"""A busy computer on demand: plain busy-loop processes that hold CPUs while a benchmark
runs (``bench ... --load N``), so contended numbers are one command anyone can repeat.
They never outlive the run: stopped on exit, and killed by the kernel if the parent dies
first, even by SIGKILL (Linux)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator

__all__ = ['busy_load', 'die_with_parent']

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

# SPDX-License-Identifier: Apache-2.0
"""Keep freed memory in the process, so a training step or a frame does not fault its
buffers back in.

A CPU training step allocates and frees the same large activation buffers every step
(PIAFusion, batch 16 of 64-px crops: tens of MB each). glibc serves any block above its
mmap threshold (which only adapts up to 32 MiB) straight from the kernel and gives it back on
free, and gives the top of its heap back once more than 128 KiB is free there; so every step
zero-fills and faults in the same pages again: 110,000 page faults a second, a fifth of the
process's time in the kernel. With the thresholds raised the freed blocks are reused:
1.1x-2.5x the steps a second; a frame through a torch network on the CPU is the same
(DIDFuse at 640x512 about 2x, FastFusion's p95 1.3x-1.6x). docs/BENCHMARKS.md "Training
step and frame: freed memory kept". The cost: the resident set stays at the peak instead
of falling back between steps. Every ``fusion-ros`` command and both nodes call it first.

Linux with glibc only (elsewhere a no-op); left alone when the user set glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` or ``FUSION_ROS_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ['keep_freed_memory']

_M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc malloc.h)
_M_MMAP_THRESHOLD = -3
# larger blocks than this still come from the kernel: a single buffer of a GiB is not a
# per-step activation worth keeping
MMAP_THRESHOLD = 1 << 30
TRIM_THRESHOLD = (1 << 31) - 1  # the largest int mallopt takes


@functools.cache  # once a process: the answer does not change
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (and the workers it forks).

    Returns:
        True when both were set; False when not on glibc, or left to the user's settings.
    """
    if os.environ.get('FUSION_ROS_KEEP_FREED_MEMORY', '1') == '0':
        return False
    if 'MALLOC_MMAP_THRESHOLD_' in os.environ or 'MALLOC_TRIM_THRESHOLD_' in os.environ:
        return False
    try:
        if not os.confstr('CS_GNU_LIBC_VERSION'):  # musl: no mallopt of glibc's kind
            return False
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: glibc's
    except (OSError, AttributeError, ValueError):  # macOS, Windows: no such name or call
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # mallopt returns 1 on success, 0 when glibc refuses the value
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

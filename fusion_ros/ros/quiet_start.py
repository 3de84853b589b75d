# SPDX-License-Identifier: Apache-2.0
"""Ctrl-C in the first second of a launch reaches the nodes while they still import rclpy
and torch: Python's default handler then prints a page of traceback per node. A node run
as a script calls :func:`leave_quietly_on_interrupt` before its heavy imports, and puts the
default handler back once they are done. This module imports nothing heavy."""

from __future__ import annotations

import os
import signal
import sys

__all__ = ['INTERRUPTED_EXIT', 'leave_quietly_on_interrupt']

INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def _leave(signum: int, frame: object) -> None:
    sys.stderr.write('interrupted while starting\n')
    sys.stderr.flush()
    os._exit(INTERRUPTED_EXIT)  # nothing is open yet: no cleanup to skip


def leave_quietly_on_interrupt() -> None:
    """Until the caller restores it, SIGINT and SIGTERM end the process at once, quietly."""
    signal.signal(signal.SIGINT, _leave)
    signal.signal(signal.SIGTERM, _leave)

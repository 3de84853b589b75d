# SPDX-License-Identifier: Apache-2.0
"""A node's inference thread that warms its model up before the node takes any input.

Warm-up runs on the thread that will run inference (cuDNN/cuBLAS and oneDNN state is per
thread) and can take seconds on a CPU; a lifecycle transition must not wait for it. So the
worker warms up, then calls ``when_warm`` (the node subscribes to its inputs) unless the
activation was cancelled meanwhile (deactivated, cleaned up, destroyed), then serves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ['WarmStart']


class WarmStart:
    """One activation's worker: ``warm()``, then ``when_warm()`` under a lock that
    :meth:`cancel` takes too (so the two never interleave), then ``serve()``."""

    def __init__(self, warm: Callable[[], None], when_warm: Callable[[], None],
                 serve: Callable[[], None], name: str) -> None:
        self._warm, self._when_warm, self._serve = warm, when_warm, serve
        self._lock = threading.Lock()
        self._cancelled = False
        self._warm_done = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> WarmStart:
        self.thread.start()
        return self

    @property
    def warming(self) -> bool:
        """Still warming up (neither warm nor cancelled)."""
        return not (self._warm_done or self._cancelled)

    def cancel(self) -> None:
        """After this returns, ``when_warm`` has either run already or never will."""
        with self._lock:
            self._cancelled = True

    def join(self, timeout_s: float) -> None:
        self.thread.join(timeout=timeout_s)

    def _run(self) -> None:
        try:
            self._warm()
        finally:
            ready = self._ready()
        if ready:
            self._serve()

    def _ready(self) -> bool:
        with self._lock:
            if self._cancelled:
                return False
            self._when_warm()
            self._warm_done = True
            return True

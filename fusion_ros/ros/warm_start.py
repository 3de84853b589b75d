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
from typing import Any

__all__ = ['EngineWarmer', 'WarmStart']


class WarmStart:
    """One activation's worker: ``warm()``, then ``when_warm()`` under a lock that
    :meth:`cancel` takes too (so the two never interleave), then ``serve()``."""

    def __init__(self, warm: Callable[[], None], when_warm: Callable[[], None],
                 serve: Callable[[], None], name: str,
                 on_error: Callable[[Exception], None] = lambda err: None) -> None:
        self._warm, self._when_warm, self._serve = warm, when_warm, serve
        self._on_error = on_error  # the thread's error (no traceback from a thread)
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
            try:
                self._warm()
            finally:
                ready = self._ready()
            if ready:
                self._serve()
        except Exception as err:  # noqa: BLE001 - e.g. subscribing as Ctrl-C ends the context
            self._on_error(err)

    def _ready(self) -> bool:
        with self._lock:
            if self._cancelled:
                return False
            # warm before ``when_warm`` subscribes: a diagnostics tick that sees the
            # subscriptions must not also see 'warming up' (ready false)
            self._warm_done = True
            self._when_warm()
            return True


class EngineWarmer:
    """Warm each engine once, on the calling (inference) thread, at the frame size seen
    last (640x512 before any frame), so a swapped-in engine is warmed at its first frame's
    size. A failure is reported and the frames then pay for the set-up instead."""

    def __init__(self, on_error: Callable[[str], None]) -> None:
        self.size = (640, 512)
        self._warmed: Any = None
        self._on_error = on_error

    def warm(self, engine: Any) -> None:
        if engine is None or engine is self._warmed:
            return
        self._warmed = engine
        try:
            engine.warmup(*self.size)
        except Exception as err:  # noqa: BLE001 - warming up is an optimisation only
            self._on_error(f'warm-up at {self.size[0]}x{self.size[1]} failed: {err!r}')

    def before_frame(self, engine: Any, width: int, height: int) -> None:
        """A frame of this size is about to run on ``engine``: warm a new engine first."""
        self.size = (width, height)
        self.warm(engine)

    def forget(self) -> None:
        """Warm again at the next activation, even the same engine."""
        self._warmed = None

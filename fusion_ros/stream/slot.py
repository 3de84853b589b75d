# SPDX-License-Identifier: Apache-2.0
"""A one-item mailbox where a newer item replaces an older one.

Sits between the subscription callbacks and the inference worker: when the model is slower
than the cameras, latency stays bounded (at most one pair waits) and drops are counted.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ['LatestSlot', 'MaxRate']

T = TypeVar('T')


class LatestSlot(Generic[T]):
    """Holds at most one item; :meth:`put` replaces, :meth:`take` blocks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Store ``item``; return True if it replaced one nobody took (a drop)."""
        with self._cond:
            dropped = self._item is not None
            if dropped:
                self.replaced += 1
            self._item = item
            self._cond.notify()
            return dropped

    def take(self, timeout: float | None = None) -> T | None:
        """Wait for an item and remove it; None on timeout or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiter; later :meth:`take` calls return None at once."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()


class MaxRate:
    """Let events through at most ``rate`` times a second (``rate`` <= 0: every one), on
    the caller's clock; an event refused does not move the window."""

    def __init__(self) -> None:
        self._last = float('-inf')

    def allow(self, rate: float, now: float) -> bool:
        if rate > 0 and now - self._last < 1.0 / rate:
            return False
        self._last = now
        return True

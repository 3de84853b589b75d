# SPDX-License-Identifier: Apache-2.0
"""Read an iterator ahead on a thread, so decoding the next messages overlaps the work on
the current ones (a GPU's forward pass, or torch's kernels, release the GIL)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ['read_ahead']

T = TypeVar('T')

_END = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterable[T], depth: int) -> Iterator[T]:
    """Yield ``items`` in order while a thread reads up to ``depth`` of them ahead.

    An exception the source raises is raised here, after the items read before it (a
    damaged bag's readable part comes first, as without read-ahead). Closing the generator
    early (a consumer that stops, Ctrl-C) stops the thread at its next item.
    """
    if depth < 1:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    source = iter(items)

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Raised(err))
            return
        finally:
            close = getattr(source, 'close', None)
            if close is not None:  # a generator (a bag reader) closes its files here
                close()
        put(_END)

    thread = threading.Thread(target=produce, name='read-ahead', daemon=True)
    thread.start()
    try:
        while True:
            value = buffer.get()
            if value is _END:
                return
            if isinstance(value, _Raised):
                raise value.error
            yield value
    finally:
        stop.set()
        thread.join(timeout=5.0)

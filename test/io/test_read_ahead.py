# SPDX-License-Identifier: Apache-2.0
"""read_ahead: the same items in the same order, the source's error after the items read
before it, and a consumer that stops early stops the reading thread."""

from __future__ import annotations

import threading
import time

import pytest

from fusion_ros.io.read_ahead import read_ahead
from test.bounds import HANG_S, POLL_S, wait_until


def test_items_come_in_order_whatever_the_depth():
    for depth in (0, 1, 3, 100):
        assert list(read_ahead(iter(range(50)), depth)) == list(range(50))


def test_the_sources_error_comes_after_what_was_read_before_it():
    def damaged():
        yield from range(5)
        raise OSError('cut off')

    got = []
    with pytest.raises(OSError, match='cut off'):
        for item in read_ahead(damaged(), 2):
            got.append(item)
    assert got == list(range(5))


def test_reading_runs_ahead_and_stops_when_the_consumer_does():
    produced, closed = [], threading.Event()

    def source():
        try:
            for k in range(10_000):
                produced.append(k)
                yield k
        finally:
            closed.set()  # the generator was closed (on the reading thread)

    items = read_ahead(source(), 4)
    assert next(items) == 0
    wait_until(lambda: len(produced) >= 5, 'the thread to read ahead of the consumer')
    for _ in range(3):  # but not without bound: one taken, four queued, one being put
        time.sleep(POLL_S)
        assert len(produced) <= 1 + 4 + 1
    items.close()
    assert closed.wait(HANG_S)
    assert len(produced) < 10_000

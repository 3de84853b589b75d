# SPDX-License-Identifier: Apache-2.0
"""LatestSlot: newest item wins, drops counted, close wakes waiters."""

import threading

from fusion_ros.stream.slot import LatestSlot


def test_newer_replaces_older_and_counts_drop():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.replaced == 1
    assert slot.take(timeout=0.1) == 2
    assert slot.take(timeout=0.01) is None


def test_close_wakes_a_blocked_taker():
    slot = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take()))
    t.start()
    slot.close()
    t.join(timeout=2.0)
    assert not t.is_alive() and got == [None]

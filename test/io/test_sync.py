# SPDX-License-Identifier: Apache-2.0
"""ApproximateTimeSynchronizer follows message_filters' semantics."""

import pytest

from fusion_ros.errors import ConfigError
from fusion_ros.io.sync import ApproximateTimeSynchronizer

MS = 1_000_000


def make(queue_size=10, slop_s=0.010):
    out = []
    sync = ApproximateTimeSynchronizer(2, queue_size, slop_s, callback=lambda *m: out.append(m))
    return sync, out


def test_pairs_within_slop_and_calls_back():
    sync, out = make()
    assert sync.add(0, 100 * MS, 'a') is None
    assert sync.add(1, 105 * MS, 'b') == ('a', 'b')
    assert out == [('a', 'b')]
    assert sync.queued() == [0, 0]


def test_candidate_inclusive_but_set_strict_at_exactly_slop():
    sync, out = make(slop_s=0.010)
    sync.add(0, 100 * MS, 'a')
    # exactly slop apart: a candidate (|s - t| <= slop) but max - min < slop fails
    assert sync.add(1, 110 * MS, 'b') is None
    assert out == []
    # just inside
    assert sync.add(1, 109_999_999, 'c') == ('a', 'c')


def test_slop_zero_never_matches_even_identical_stamps():
    sync, _ = make(slop_s=0.0)
    sync.add(0, 100 * MS, 'a')
    assert sync.add(1, 100 * MS, 'b') is None


def test_closest_candidate_wins():
    sync, _ = make(slop_s=0.030)
    sync.add(1, 80 * MS, 'far')
    sync.add(1, 98 * MS, 'near')
    assert sync.add(0, 100 * MS, 'x') == ('x', 'near')
    assert sync.queued() == [0, 1]  # 'far' stays queued


def test_eviction_drops_smallest_stamp_not_oldest_arrival():
    sync, _ = make(queue_size=2, slop_s=0.005)
    sync.add(0, 300 * MS, 'late')
    sync.add(0, 100 * MS, 'early')   # arrives second but has the smallest stamp
    sync.add(0, 200 * MS, 'middle')  # queue exceeds 2: evicts stamp 100
    assert sync.add(1, 100 * MS, 'x') is None
    assert sync.add(1, 300 * MS, 'y') == ('late', 'y')
    assert sync.add(1, 200 * MS, 'z') == ('middle', 'z')


def test_out_of_order_arrival_still_pairs():
    sync, out = make(slop_s=0.010)
    sync.add(0, 200 * MS, 't200')
    sync.add(0, 100 * MS, 't100')
    sync.add(1, 101 * MS, 'r101')
    sync.add(1, 199 * MS, 'r199')
    assert out == [('t100', 'r101'), ('t200', 'r199')]


def test_duplicate_stamp_replaces():
    sync, _ = make()
    sync.add(0, 100 * MS, 'first')
    sync.add(0, 100 * MS, 'second')
    assert sync.queued() == [1, 0]
    assert sync.add(1, 100 * MS, 'r') == ('second', 'r')


def test_new_message_always_in_emitted_set_and_at_most_one_set():
    sync, out = make(slop_s=0.050)
    sync.add(0, 100 * MS, 'a')
    sync.add(0, 120 * MS, 'b')
    sync.add(1, 118 * MS, 'r')
    assert out == [('b', 'r')]
    assert sync.queued() == [1, 0]


def test_three_inputs_first_other_input_varies_slowest():
    out = []
    sync = ApproximateTimeSynchronizer(3, 10, 0.010, callback=lambda *m: out.append(m))
    sync.add(0, 100 * MS, 'a0')
    sync.add(0, 104 * MS, 'a4')
    sync.add(2, 96 * MS, 'c96')
    sync.add(2, 101 * MS, 'c101')
    # candidates: input0 [a0 (d=1), a4 (d=3)], input2 [c101 (d=0), c96 (d=5)];
    # first accepted tuple in product order is (a0, b, c101)
    assert sync.add(1, 101 * MS, 'b') == ('a0', 'b', 'c101')


def test_reset_forgets_queues():
    sync, _ = make()
    sync.add(0, 100 * MS, 'a')
    sync.reset()
    assert sync.add(1, 100 * MS, 'b') is None


@pytest.mark.parametrize('kwargs', [
    {'num_inputs': 1, 'queue_size': 5, 'slop_s': 0.1},
    {'num_inputs': 2, 'queue_size': 0, 'slop_s': 0.1},
    {'num_inputs': 2, 'queue_size': 5, 'slop_s': -0.1},
])
def test_bad_config_raises(kwargs):
    with pytest.raises(ConfigError):
        ApproximateTimeSynchronizer(**kwargs)

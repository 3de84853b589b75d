# SPDX-License-Identifier: Apache-2.0
"""ApproximateTimeSynchronizer follows message_filters' semantics."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- late frames (issue: one late frame killed the node) --------------------------------


def test_message_evicted_on_arrival_is_dropped_not_raised():
    # queue_size 1: thermal t=1 s arrives after thermal t=2 s and is evicted at once
    sync, out = make(queue_size=1, slop_s=0.025)
    assert sync.add(1, 1000 * MS, 'rgb1') is None
    assert sync.add(0, 2000 * MS, 'ir2') is None
    assert sync.add(0, 1000 * MS, 'ir1') is None
    assert out == [] and sync.queued() == [1, 1]
    # what is queued still pairs as usual
    assert sync.add(1, 2001 * MS, 'rgb2') == ('ir2', 'rgb2')


def test_frame_later_than_its_whole_queue_is_dropped():
    sync, _ = make(queue_size=3, slop_s=0.010)
    for t in (200, 300, 400):
        sync.add(0, t * MS, f'ir{t}')
    sync.add(1, 100 * MS, 'rgb100')
    assert sync.add(0, 100 * MS, 'late') is None
    assert sync.queued() == [3, 1]


# --- properties over arbitrary stamp sequences ------------------------------------------

stamps_ns = st.one_of(
    st.integers(0, 2_000).map(lambda ms: ms * MS),            # dense: many matches
    st.integers(-10**12, 10**12),                              # negative, zero, far apart
    st.sampled_from([0, 2**63 - 1, 3600 * 10**9 * 5]),         # zero, far future, hours
)


@st.composite
def streams(draw, max_inputs=3):
    n = draw(st.integers(2, max_inputs))
    events = draw(st.lists(st.tuples(st.integers(0, n - 1), stamps_ns), max_size=80))
    slop_s = draw(st.sampled_from([0.0, 0.005, 0.025, 0.05, 1.0]))
    return n, draw(st.integers(1, 10)), slop_s, events


@settings(max_examples=300, deadline=None)
@given(streams())
def test_never_raises_and_sets_are_valid(stream):
    n, queue_size, slop_s, events = stream
    sync = ApproximateTimeSynchronizer(n, queue_size, slop_s)
    used: set[int] = set()
    for k, (index, stamp) in enumerate(events):
        out = sync.add(index, stamp, (k, index, stamp))
        assert all(c <= queue_size for c in sync.queued())
        if out is None:
            continue
        ids = [m[0] for m in out]
        assert k in ids  # a set always contains the arriving message
        assert [m[1] for m in out] == list(range(n))  # one message per input, in input order
        got = [m[2] for m in out]
        assert max(got) - min(got) < round(slop_s * 1e9)
        assert not used.intersection(ids)  # no message in two sets
        used.update(ids)


@settings(max_examples=100, deadline=None)
@given(streams(max_inputs=2))
def test_node_and_bag_tools_pair_identically(stream):
    from fusion_ros.bagtools import pairs
    from fusion_ros.io.sync import StreamPairer

    _, queue_size, slop_s, events = stream
    events = [(i, abs(s) % 10**12) for i, s in events]  # header stamps are unsigned
    live: list[tuple] = []
    pairer = StreamPairer(2, queue_size, slop_s, callback=lambda *m: live.append(m))
    for k, (index, stamp) in enumerate(events):
        pairer.add(index, stamp, k)

    class FakeMsg:
        def __init__(self, k, index, stamp):
            self.k, self.topic, self.stamp = k, ('/ir', '/rgb')[index], stamp
            self.time_ns = k

        def header_stamp(self):
            return self.stamp

    recorded = [FakeMsg(k, i, s) for k, (i, s) in enumerate(events)]
    original = pairs.read_bag
    pairs.read_bag = lambda bag, topics: iter(recorded)
    try:
        offline = [(a.k, b.k) for a, b in pairs.SyncedPairs('x', ('/ir', '/rgb'), slop_s,
                                                             queue_size)]
    finally:
        pairs.read_bag = original
    assert offline == live


# --- differential test against the real message_filters ---------------------------------


def _message_filters():
    try:
        import message_filters
        from std_msgs.msg import Header
    except ImportError as err:
        pytest.skip(f'message_filters not installed ({err}); make tools installs it from '
                    'FUSION_ROS_SHARED/ros2')
    return message_filters, Header


def _random_stream(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """Cameras at near rates with jitter, drops, late deliveries and duplicate stamps."""
    base = 1_700_000_000 * 10**9
    period = [rng.choice([33, 50, 100, 111]) * MS for _ in range(n)]
    offset = [rng.randrange(0, 40) * MS for _ in range(n)]
    events = []
    for i in range(n):
        for f in range(rng.randrange(5, 40)):
            if rng.random() < 0.1:
                continue  # dropped frame
            stamp = base + offset[i] + f * period[i] + int(rng.gauss(0, 4) * MS)
            delay = rng.choice([0] * 8 + [100 * MS, 400 * MS])  # 20 % delivered late
            events.append((stamp + delay + rng.randrange(MS), i, stamp))
            if rng.random() < 0.05:
                events.append((stamp + delay + 2 * MS, i, stamp))  # duplicate stamp
    events.sort()
    return [(i, stamp) for _, i, stamp in events]


def test_identical_to_message_filters_on_random_streams():
    message_filters, Header = _message_filters()
    from builtin_interfaces.msg import Time

    class Msg:
        def __init__(self, k, stamp):
            self.k = k
            self.header = Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9))

    rng = random.Random(17)
    cases = 0
    for queue_size in range(1, 11):
        for slop_ms in (5, 10, 25, 50):
            for n in (2, 3):
                for _ in range(4):
                    events = _random_stream(rng, n)
                    filters = [message_filters.SimpleFilter() for _ in range(n)]
                    ref: list[tuple] = []
                    theirs = message_filters.ApproximateTimeSynchronizer(
                        filters, queue_size, slop_ms / 1000)
                    theirs.registerCallback(lambda *m, ref=ref: ref.append(tuple(x.k for x in m)))
                    ours: list[tuple] = []
                    sync = ApproximateTimeSynchronizer(
                        n, queue_size, slop_ms / 1000,
                        callback=lambda *m, ours=ours: ours.append(tuple(x.k for x in m)))
                    for k, (i, stamp) in enumerate(events):
                        msg = Msg(k, stamp)
                        filters[i].signalMessage(msg)
                        sync.add(i, stamp, msg)
                    assert ours == ref, (queue_size, slop_ms, n)
                    cases += 1
    assert cases == 320


# --- cameras at different rates ----------------------------------------------------------


def _rig(seed: int, thermal_hz: float = 9.0, rgb_hz: float = 30.0, jitter_ms: float = 10.0,
         seconds: float = 20.0) -> list[tuple[int, int]]:
    """(input, stamp) in arrival order: thermal (0) and RGB (1), stamps jittered."""
    rng = random.Random(seed)
    events = []
    for index, hz in ((0, thermal_hz), (1, rgb_hz)):
        for f in range(int(seconds * hz)):
            stamp = int(f * 1e9 / hz + rng.gauss(0, jitter_ms) * MS)
            events.append((stamp + rng.randrange(5 * MS), index, stamp))  # transport delay
    events.sort()
    return [(i, s) for _, i, s in events]


@pytest.mark.parametrize('policy', ['approximate', 'nearest'])
@pytest.mark.parametrize('thermal_hz', [8.7, 9.0])
def test_slow_thermal_fast_rgb_rig_fuses_95_percent(policy, thermal_hz):
    from fusion_ros.io.sync import StreamPairer

    for seed in range(3):
        events = _rig(seed, thermal_hz)
        pairs: list = []
        pairer = StreamPairer(2, 10, 0.025, callback=lambda *m, pairs=pairs: pairs.append(m),
                              policy=policy)
        for i, stamp in events:
            pairer.add(i, stamp, (i, stamp))
        thermal = sum(1 for i, _ in events if i == 0)
        assert len(pairs) >= 0.95 * thermal, (policy, seed, len(pairs), thermal)
        assert all(abs(a[1] - b[1]) < 25 * MS for a, b in pairs)


def test_nearest_policy_takes_the_nearest_rgb_frame():
    from fusion_ros.io.sync import NearestSynchronizer

    events = _rig(7)
    rgb = sorted(s for i, s in events if i == 1)
    pairs: list = []
    sync = NearestSynchronizer(10, 0.025, callback=lambda *m: pairs.append(m))
    for i, stamp in events:
        sync.add(i, stamp, stamp)
    assert pairs
    for thermal, chosen in pairs:
        best = min(rgb, key=lambda s: abs(s - thermal))
        assert abs(chosen - thermal) == abs(best - thermal)


@settings(max_examples=200, deadline=None)
@given(streams(max_inputs=2))
def test_nearest_policy_never_raises_and_sets_are_valid(stream):
    from fusion_ros.io.sync import NearestSynchronizer

    _, queue_size, slop_s, events = stream
    out: list = []
    sync = NearestSynchronizer(queue_size, slop_s, callback=lambda *m: out.append(m))
    seen: set = set()
    for k, (index, stamp) in enumerate(events):
        sync.add(index, stamp, (k, index, stamp))
    for a, b in out:
        assert a[1] == 0 and b[1] == 1
        assert abs(a[2] - b[2]) < round(slop_s * 1e9)
        assert a[0] not in seen and b[0] not in seen
        seen.update((a[0], b[0]))


def test_unknown_policy_is_a_config_error():
    from fusion_ros.io.sync import StreamPairer

    with pytest.raises(ConfigError, match='policy'):
        StreamPairer(2, 10, 0.025, policy='closest')
    with pytest.raises(ConfigError, match='two inputs'):
        StreamPairer(3, 10, 0.025, policy='nearest')


def test_an_input_lagging_behind_the_other_is_no_time_jump():
    """A loaded node works through a thermal backlog (20 s) while RGB is already at 30 s: no
    reset, and once thermal catches up the pairs come again (a jump detector across inputs
    reset at every lagging message and paired 5 of 20 after a burst on a loaded CI run)."""
    from fusion_ros.io.sync import StreamPairer

    sec = 1_000_000_000
    pairs: list = []
    pairer = StreamPairer(2, 5, 0.01, callback=lambda *m: pairs.append(m))
    for k in range(20):  # the thermal backlog arrives while RGB runs ahead
        pairer.add(0, 20 * sec + k * MS, ('backlog', k))
        pairer.add(1, 30 * sec + k * 100 * MS, ('rgb', k))
    for k in range(20, 40):  # thermal caught up
        pairer.add(0, 30 * sec + k * 100 * MS + MS, ('thermal', k))
        pairer.add(1, 30 * sec + k * 100 * MS, ('rgb', k))
    assert pairer.time_jumps == 0
    assert [(t, r) for t, r in pairs] == [(('thermal', k), ('rgb', k)) for k in range(20, 40)]


def test_a_looping_stream_is_one_time_jump_and_pairs_on():
    from fusion_ros.io.sync import StreamPairer

    pairs: list = []
    jumps: list = []
    pairer = StreamPairer(2, 5, 0.01, callback=lambda *m: pairs.append(m), on_jump=jumps.append)
    for lap in range(3):
        for k in range(20):
            pairer.add(0, k * 100 * MS, (lap, k))
            pairer.add(1, k * 100 * MS + 2 * MS, (lap, k))
    assert pairer.time_jumps == 2 and jumps == [0, 0]  # thermal leads each lap back
    assert len(pairs) == 60 and all(t == r for t, r in pairs)

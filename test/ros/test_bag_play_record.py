# SPDX-License-Identifier: Apache-2.0
"""fusion-ros bag play / record over real DDS: timing, /clock, clean Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from fusion_ros.io.bag import BagWriter, read_bag  # noqa: E402
from fusion_ros.ros.pipeline import isolated_ros_env  # noqa: E402
from fusion_ros.ros.player import MATCH_SETTLE_S, BagPlayer  # noqa: E402
from fusion_ros.ros.qos import make_qos  # noqa: E402
from fusion_ros.ros.session import ros_session  # noqa: E402
from test.bounds import HANG_S, READY_S, STOP_S, wait_until  # noqa: E402

pytestmark = pytest.mark.ros

START = 1_700_000_000_000_000_000


@pytest.fixture(scope='module')
def tick_bag(tmp_path_factory):
    """21 tiny images on /tick, 50 ms apart, with a 150 ms pause after the 10th."""
    path = tmp_path_factory.mktemp('tick') / 'bag'
    with BagWriter(path) as bag:
        t = START
        for k in range(21):
            bag.write_image('/tick', np.full((4, 4), k, np.uint8), 'mono8', t, 'x')
            t += 200_000_000 if k == 9 else 50_000_000
    return path


def _play_and_receive(bag, rate, **kw):
    """Play ``bag`` reliably to a subscriber in this process; return what was sent, the
    ticks received with their receipt times, the /clock values heard and the publish times."""
    received: list[tuple[float, int]] = []
    clocks: list[int] = []
    published: list[int] = []
    reliable = make_qos('reliable', 50)
    with ros_session('test_player') as (node, _):
        ticks = node.create_subscription(Image, '/tick', lambda m: received.append(
            (time.monotonic(), int(m.data[0]))), reliable)
        clock_sub = node.create_subscription(Clock, '/clock', lambda m: clocks.append(
            m.clock.sec * 1_000_000_000 + m.clock.nanosec), 50)
        player = BagPlayer(node, bag, reliable, rate=rate, **kw)
        player.prepare()
        subs = [ticks] + ([clock_sub] if kw.get('clock_hz') else [])
        # matched both ways: the player sees the subscriber and the subscriber the player
        wait_until(lambda: player.subscriber_count() >= 1
                   and all(s.get_publisher_count() >= 1 for s in subs), 'discovery')
        sent = player.play(on_publish=lambda _m, wall_ns: published.append(wall_ns))
        assert player.wait_for_acknowledged(HANG_S)
        wait_until(lambda: len(received) >= sent, 'every message to be taken')
    return sent, received, clocks, published


class _SimulatedTime:
    """A clock that only moves when slept on: the player's schedule, free of any load."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


class _Publisher:
    def __init__(self, log: list[float], sim: _SimulatedTime) -> None:
        self.log, self.sim = log, sim

    def publish(self, _raw: bytes) -> None:
        self.log.append(self.sim.now)


@pytest.mark.parametrize('rate', [0.5, 1.0, 2.0])
def test_play_keeps_the_recorded_spacing_scaled_by_rate(tick_bag, rate):
    """The schedule itself, on a simulated clock: each message goes out at its bag offset
    divided by the rate, the 150 ms pause included (real-time jitter: benchmarks/)."""
    sim, times = _SimulatedTime(), []

    class _Node:
        def create_publisher(self, *_args):
            return _Publisher(times, sim)

    player = BagPlayer(_Node(), tick_bag, make_qos('reliable', 10), rate=rate,
                       monotonic=sim.monotonic, sleep=sim.sleep)
    assert player.play() == 21
    log = np.array([m.time_ns for m in read_bag(tick_bag)], np.int64)
    expected = (log - log[0]) / 1e9 / rate
    np.testing.assert_allclose(np.array(times) - times[0], expected, atol=1e-9)


def test_wait_for_subscribers_gives_the_reader_time_to_match_and_gives_up_alone(tick_bag):
    """Best effort readers drop what a writer sends before they have matched it: the wait
    returns only :data:`MATCH_SETTLE_S` after the writer saw its reader (a simulated clock),
    and False when nobody subscribes in time or it is asked to stop."""
    sim = _SimulatedTime()
    qos = make_qos('sensor_data', 5)
    with ros_session('test_player_wait') as (node, _):
        player = BagPlayer(node, tick_bag, qos, monotonic=sim.monotonic, sleep=sim.sleep)
        player.prepare()
        start = sim.now
        assert not player.wait_for_subscribers(2.0)
        assert 2.0 < sim.now - start < 2.2
        node.create_subscription(Image, '/tick', lambda _m: None, qos)
        wait_until(lambda: player.subscriber_count() >= 1, 'discovery')
        assert not player.wait_for_subscribers(2.0, should_stop=lambda: True)
        start = sim.now
        assert player.wait_for_subscribers(2.0, ['/tick'])
        assert sim.now - start == pytest.approx(MATCH_SETTLE_S)


def test_play_delivers_every_message_in_order_never_ahead_of_time(tick_bag):
    sent, received, _, published = _play_and_receive(tick_bag, 2.0)
    assert sent == 21 and [k for _, k in received] == list(range(21))
    # it waits between messages: a player that did not would publish all 21 within a few
    # ms (the spacing itself is tested on a simulated clock above; its jitter is a benchmark)
    log = [m.time_ns for m in read_bag(tick_bag)]
    assert published[-1] - published[0] >= 0.5 * (log[-1] - log[0]) / 2.0


def test_play_start_duration_and_clock(tick_bag):
    sent, received, clocks, _ = _play_and_receive(tick_bag, 2.0, start_s=0.5, duration_s=0.3,
                                                  clock_hz=100.0)
    # bag time 0.5 .. 0.8 s holds frames 8, 9 (0.40/0.45 are before), then 10 at 0.65 ...
    log = [(m.time_ns - START) / 1e9 for m in read_bag(tick_bag)]
    want = [k for k, t in enumerate(log) if 0.5 - 1e-9 <= t <= 0.8 + 1e-9]
    assert [k for _, k in received] == want and sent == len(want)
    assert clocks and min(clocks) >= START + 500_000_000 - 1
    assert max(clocks) <= START + 800_000_000 and clocks == sorted(clocks)


def test_record_cli_records_until_sigint_and_exits_cleanly(tick_bag, tmp_path):
    out = tmp_path / 'rec'
    env = isolated_ros_env(int(__import__('os').environ['ROS_DOMAIN_ID']))
    proc = subprocess.Popen([sys.executable, '-m', 'fusion_ros', 'bag', 'record', str(out),
                             '/tick', '--qos', 'reliable'], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        with ros_session('test_record_source') as (node, _):
            player = BagPlayer(node, tick_bag, make_qos('reliable', 50))
            player.prepare()
            # the recorder discovers the topic's type from the graph, then subscribes
            wait_until(lambda: any('recording' in line for line in lines)
                       and player.subscriber_count() >= 1, 'the recorder to subscribe',
                       READY_S, alive=lambda: proc.poll() is None, context=lambda: ''.join(lines))
            assert player.play() == 21
            assert player.wait_for_acknowledged(HANG_S)  # the recorder holds all 21
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=2 * STOP_S)
        assert time.monotonic() - stopped < STOP_S
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=STOP_S)
    output = ''.join(lines)
    assert proc.returncode == 130, output  # stopped by Ctrl-C, bag closed and complete
    assert 'Traceback' not in output and 'recorded 21 messages' in output
    recorded = list(read_bag(out))
    assert [m.raw for m in recorded] == [m.raw for m in read_bag(tick_bag)]


def test_play_cli_stops_on_sigterm_without_traceback(tick_bag):
    env = isolated_ros_env(int(__import__('os').environ['ROS_DOMAIN_ID']))
    proc = subprocess.Popen([sys.executable, '-m', 'fusion_ros', 'bag', 'play', str(tick_bag),
                             '--loop'], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    # past the end of the bag (1.2 s) it starts again, and says so after each whole pass
    wait_until(lambda: any('pass 2 done' in line for line in lines), 'a second whole pass',
               READY_S, alive=lambda: proc.poll() is None, context=lambda: ''.join(lines))
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=2 * STOP_S)
    assert time.monotonic() - stopped < STOP_S
    reader.join(timeout=2)
    text = ''.join(lines)
    assert proc.returncode == 130 and 'Traceback' not in text
    so_far = [int(n) for n in re.findall(r'pass \d+ done \((\d+) messages so far\)', text)]
    assert so_far[:2] == [21, 42]  # each pass publishes the whole bag again
    published = int(text.split('published ')[1].split()[0])
    assert published >= 42  # the count reported at the stop includes both passes

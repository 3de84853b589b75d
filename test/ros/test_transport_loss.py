# SPDX-License-Identifier: Apache-2.0
"""TransportLoss: messages the middleware dropped before a callback saw them are counted,
from the publisher's sequence numbers, against real Fast DDS and on made-up MessageInfo."""

from __future__ import annotations

import threading

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.duration import Duration  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from fusion_ros.ros.node_support import TransportLoss  # noqa: E402
from fusion_ros.ros.qos import make_qos  # noqa: E402
from fusion_ros.ros.session import ros_session  # noqa: E402
from test.bounds import HANG_S, wait_until  # noqa: E402

pytestmark = pytest.mark.ros


def _info(seq: int | None, gid: bytes = b'a') -> dict:
    return {'publication_sequence_number': seq, 'publisher_gid': {'data': gid}}


def test_gaps_count_per_publisher_and_a_restart_starts_afresh():
    loss = TransportLoss()
    assert [loss.see(_info(s)) for s in (1, 2, 5, 6)] == [0, 0, 2, 0]
    # a second publisher interleaved: its numbers are its own
    assert [loss.see(_info(s, b'b')) for s in (100, 101, 104)] == [0, 0, 2]
    assert loss.see(_info(7)) == 0
    assert loss.see(_info(1)) == 0  # publisher restarted: numbers begin again
    assert loss.see(_info(3)) == 1
    assert loss.lost == 5


def test_from_start_counts_what_each_publisher_sent_before_its_first_message_seen():
    loss = TransportLoss(from_start=True)
    assert [loss.see(_info(s)) for s in (4, 5, 7)] == [3, 0, 1]
    assert loss.see(_info(1, b'b')) == 0  # a publisher heard from its first message
    assert loss.see(_info(2)) == 0  # the first one restarted: nothing known before
    assert loss.lost == 4
    assert TransportLoss().see(_info(4)) == 0  # by default a first message starts afresh


def test_an_rmw_without_sequence_numbers_counts_nothing():
    loss = TransportLoss()
    assert loss.see(_info(None)) == 0 and loss.see({}) == 0 and loss.see(None) == 0
    assert loss.lost == 0


def test_a_starved_subscription_counts_every_message_its_queue_overwrote():
    """The callback blocks while 12 messages are published to a keep-last-2 queue: the ones
    Fast DDS overwrote are exactly the ones counted, none vanish uncounted."""
    received: list[str] = []
    missed: list[int] = []
    started, release = threading.Event(), threading.Event()
    # from_start: a publisher's numbers start at 1 (a first message heard is 0 lost)
    loss = TransportLoss(from_start=True)

    def callback(msg: String) -> None:
        if not started.is_set():
            started.set()
            release.wait(HANG_S)  # the executor is stuck here: the reader queue fills up
        received.append(msg.data)

    with ros_session('transport_loss') as (node, _):
        qos = make_qos('reliable', 2)
        sub = node.create_subscription(String, 'loss_probe',
                                       loss.counting(callback, missed.append), qos)
        pub = node.create_publisher(String, 'loss_probe', qos)
        wait_until(lambda: pub.get_subscription_count() >= 1 and sub.get_publisher_count() >= 1,
                   'discovery')
        pub.publish(String(data='0'))
        assert started.wait(HANG_S)  # the first callback is now blocked
        for k in range(1, 13):
            pub.publish(String(data=str(k)))
        # reliable: once acknowledged, each message sits in the reader's keep-last-2 queue,
        # or was overwritten there
        assert pub.wait_for_all_acked(Duration(seconds=HANG_S))
        release.set()
        wait_until(lambda: len(received) + loss.lost >= 13, 'the queue to be taken')
    assert received[0] == '0' and received[-1] == '12'
    assert loss.lost > 0 and sum(missed) == loss.lost
    assert len(received) + loss.lost == 13
    assert received == sorted(received, key=int)


def test_the_recorder_reports_what_it_lost_and_records_the_rest(tmp_path):
    from fusion_ros.io.bag import read_bag
    from fusion_ros.ros.recorder import TopicRecorder

    with ros_session('loss_recorder') as (node, _):
        recorder = TopicRecorder(node, tmp_path / 'bag', {'/a': 'std_msgs/msg/String',
                                                         '/b': 'std_msgs/msg/String'},
                                 make_qos('reliable', 10))
        with recorder:
            from rclpy.serialization import serialize_message

            receive_a = recorder._subs[0].callback  # what rclpy calls, MessageInfo included
            for seq in (1, 2, 6, 7):
                receive_a(serialize_message(String(data=str(seq))), _info(seq))
            recorder._subs[1].callback(serialize_message(String(data='x')), _info(1))
    assert recorder.lost() == {'/a': 3}
    assert [m.decode().data for m in read_bag(tmp_path / 'bag', ['/a'])] == ['1', '2', '6', '7']


def test_report_window_compares_with_a_snapshot_not_the_live_counters():
    from dataclasses import dataclass

    from fusion_ros.ros.node_support import ReportWindow, per_second

    @dataclass
    class Stats:
        images: int = 0

    stats = Stats()
    window = ReportWindow(Stats)
    stats.images = 5
    before, span = window.advance(stats)
    assert before.images == 0 and span > 0  # the first report compares with zero
    stats.images = 9
    before, span = window.advance(stats)
    assert before.images == 5  # a copy: later counting does not change it
    assert per_second(stats.images, before.images, 2.0) == '2.0'
    window.restart()  # re-activation
    assert window.advance(stats)[0].images == 0

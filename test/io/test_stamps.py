# SPDX-License-Identifier: Apache-2.0
"""One stamp conversion for the nodes and the bag tools: exact, for either message type."""

from types import SimpleNamespace

import pytest

from fusion_ros.io.stamps import NS_PER_S, stamp_key, stamp_ns


def test_stamps_far_from_zero_are_exact():
    # 2^53 ns is 104 days: a float of seconds would already round a real clock's stamps
    stamp = SimpleNamespace(sec=1_733_350_000, nanosec=999_999_999)
    assert stamp_ns(stamp) == 1_733_350_000 * NS_PER_S + 999_999_999
    assert float(stamp.sec + stamp.nanosec * 1e-9) * 1e9 != stamp_ns(stamp)
    assert stamp_key(stamp) == (1_733_350_000, 999_999_999)


def test_rclpy_and_rosbags_stamps_agree():
    builtin_interfaces = pytest.importorskip('builtin_interfaces.msg')
    from rosbags.typesys import Stores, get_typestore

    Time = get_typestore(Stores.ROS2_HUMBLE).types['builtin_interfaces/msg/Time']
    ours = builtin_interfaces.Time(sec=12, nanosec=345)
    theirs = Time(sec=12, nanosec=345)
    assert stamp_ns(ours) == stamp_ns(theirs) == 12 * NS_PER_S + 345
    assert stamp_key(ours) == stamp_key(theirs)

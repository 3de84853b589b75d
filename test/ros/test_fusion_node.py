# SPDX-License-Identifier: Apache-2.0
"""The fusion node as a real process over Fast DDS, fed from generated bags."""

from __future__ import annotations

import os

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from fusion_ros.bagtools.info import count_pairs  # noqa: E402
from fusion_ros.io.bag import BagWriter, cdr_header_stamp, read_bag  # noqa: E402
from fusion_ros.io.image_msg import image_to_array  # noqa: E402
from fusion_ros.ros.pipeline import isolated_ros_env, run_pipeline  # noqa: E402
from fusion_ros.topics import (  # noqa: E402
    DIAG_TOPIC,
    ENHANCED_TOPIC,
    FUSED_TOPIC,
    NIGHT_TOPIC,
    RGB_TOPIC,
    THERMAL_TOPIC,
)
from test.accounting import assert_every_pair_accounted  # noqa: E402

pytestmark = pytest.mark.ros


def env():
    return isolated_ros_env(int(os.environ['ROS_DOMAIN_ID']))


def test_replayed_bag_is_fused_with_rgb_stamps(small_bag, tmp_path):
    out = tmp_path / 'fused'
    report = run_pipeline(small_bag, out, ['-p', 'illumination.min_dwell_s:=0.3'], env=env())
    assert report.node_returncode == 0, report.node_log  # clean SIGINT shutdown
    assert report.expected_pairs == 60
    # how many it fuses on a busy CPU is a speed: every pair must be accounted for
    assert_every_pair_accounted({k: str(v) for k, v in report.node_counts.items()},
                                report.expected_pairs, report.fused)
    summary = report.summary()
    assert summary['dropped_by_node'] == report.node_counts['dropped']
    rgb_stamps = {cdr_header_stamp(m.raw) for m in read_bag(small_bag, [RGB_TOPIC])}
    fused = list(read_bag(out, [FUSED_TOPIC]))
    assert len(fused) == report.fused
    for m in fused:
        msg = m.decode()
        assert cdr_header_stamp(m.raw) in rgb_stamps
        assert (msg.encoding, msg.width, msg.height) == ('rgb8', 160, 128)
        assert msg.header.frame_id == 'rgb_camera'
        assert image_to_array(msg).std() > 5  # a real picture, not a blank frame
    stamps = [cdr_header_stamp(m.raw) for m in fused]
    assert len(set(stamps)) == len(stamps)
    assert len(report.day_probability) == report.fused
    # how long is a speed (benchmarks/): each fused frame came after its RGB frame went out
    assert len(report.latencies_ms) == report.fused and min(report.latencies_ms) > 0
    # enhanced frames carry the RGB stamps too
    enhanced = list(read_bag(out, [ENHANCED_TOPIC]))
    assert len(enhanced) == report.fused
    assert {cdr_header_stamp(m.raw) for m in enhanced} == set(stamps)
    # the synthetic sequence goes from day to night: is_night turns on once and stays on
    night = [bool(m.raw[4]) for m in read_bag(out, [NIGHT_TOPIC])]
    assert len(night) == report.fused
    assert not night[0] and night[-1]
    assert sum(a != b for a, b in zip(night, night[1:])) == 1
    # diagnostics at 1 Hz with the node's counters
    diags = [m.decode() for m in read_bag(out, [DIAG_TOPIC])]
    assert diags, 'no /diagnostics published'
    keys = {kv.key: kv.value for kv in diags[-1].status[0].values}
    assert keys['model'] == 'fastfusion' and int(keys['fused']) > 0


def _bad_rgb(bag: BagWriter, stamp: int, kind: str):
    msg = bag.image_msg(np.zeros((64, 64, 3), np.uint8), 'rgb8', stamp, 'rgb_camera')
    if kind == 'encoding':
        msg.encoding = 'yuv422'
    elif kind == 'step':
        msg.step = 10
    elif kind == 'size':
        msg = bag.image_msg(np.zeros((32, 48, 3), np.uint8), 'rgb8', stamp, 'rgb_camera')
    return msg


def test_bad_frames_are_skipped_and_the_node_keeps_serving(tmp_path):
    bag_path = tmp_path / 'mixed'
    rng = np.random.default_rng(0)
    period, t0 = 50_000_000, 1_800_000_000 * 10**9
    kinds = {5: 'encoding', 6: 'encoding', 9: 'step', 12: 'size'}
    with BagWriter(bag_path) as bag:
        for k in range(24):
            s = t0 + k * period
            bag.write_image('/thermal/image_raw', rng.integers(0, 256, (64, 64), np.uint8),
                            'mono8', s, 'thermal_camera')
            if k in kinds:
                bag.write_msg('/rgb/image_raw', _bad_rgb(bag, s + 1_000_000, kinds[k]), s)
            else:
                bag.write_image('/rgb/image_raw', rng.integers(0, 256, (64, 64, 3), np.uint8),
                                'rgb8', s + 1_000_000, 'rgb_camera')
    assert count_pairs(bag_path, (THERMAL_TOPIC, RGB_TOPIC), 0.025, 10) == 24
    report = run_pipeline(bag_path, tmp_path / 'out', env=env())
    assert report.node_returncode == 0, report.node_log
    good = 24 - len(kinds)
    # a broken frame is counted as an error, or (a loaded node's latest-pair slot replaced
    # its pair before the worker tried it: a wrong size shows only then) as a drop, or as
    # lost in transport: one run with both cores busy counted 3 errors of 4, none lost
    lost = report.node_counts['rgb lost in transport']
    dropped = report.node_counts['dropped']
    assert report.fused <= good
    assert len(kinds) - lost - dropped <= report.node_counts['errors'] <= len(kinds)
    assert_every_pair_accounted({k: str(v) for k, v in report.node_counts.items()}, 24,
                                report.fused)
    bad_stamps = {t0 + k * period + 1_000_000 for k in kinds}
    fused_stamps = {cdr_header_stamp(m.raw) for m in read_bag(tmp_path / 'out', [FUSED_TOPIC])}
    assert not fused_stamps & bad_stamps
    # each cause logged once, naming the problem
    log = report.node_log
    assert log.count("unsupported image encoding 'yuv422'") <= 1
    assert f"errors={report.node_counts['errors']}" in log  # exit stats count every one
    if lost == 0 and dropped == 0:
        assert log.count("unsupported image encoding 'yuv422'") == 1
        assert 'step 10 is smaller' in log and 'differ in size' in log


def test_didfuse_runs_from_its_shipped_weights(small_bag, tmp_path):
    """``model:=didfuse`` with no ``weights``: the file trained here (models/didfuse.md)."""
    report = run_pipeline(small_bag, tmp_path / 'fused', ['-p', 'model:=didfuse'], env=env())
    assert report.node_returncode == 0, report.node_log
    assert "'didfuse'" in report.node_log and 'needs trained weights' not in report.node_log
    assert report.fused >= 1, report.node_log
    assert_every_pair_accounted({k: str(v) for k, v in report.node_counts.items()},
                                report.expected_pairs, report.fused)
    fused = [image_to_array(m.decode()) for m in read_bag(tmp_path / 'fused', [FUSED_TOPIC])]
    assert fused and all(f.shape[:2] == (128, 160) and f.std() > 5 for f in fused)

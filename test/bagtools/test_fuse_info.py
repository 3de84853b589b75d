# SPDX-License-Identifier: Apache-2.0
"""Offline bag fusion and bag info: one fused message per synchronised pair, source stamps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusion_ros.bagtools.fuse import fuse_bag
from fusion_ros.bagtools.info import bag_info, count_pairs
from fusion_ros.cli.main import main
from fusion_ros.cli.synth import GROUND_TRUTH_FILE, write_synthetic_bag
from fusion_ros.engine import FusionEngine
from fusion_ros.io.bag import BagWriter, read_bag
from fusion_ros.topics import (
    DAY_TOPIC,
    ENHANCED_TOPIC,
    FUSED_TOPIC,
    NIGHT_TOPIC,
    RGB_TOPIC,
    THERMAL_TOPIC,
)

PAIR = (THERMAL_TOPIC, RGB_TOPIC)


@pytest.fixture(scope='module')
def gappy_bag(tmp_path_factory):
    """2 s at 20 Hz, 96x64, 20 % of frames dropped per camera, 8 ms stamp jitter."""
    path = tmp_path_factory.mktemp('gappy') / 'in'
    write_synthetic_bag(path, seconds=2.0, size=(96, 64), seed=5, progress=False,
                        drop_rate=0.2, jitter_ms=8.0)
    return path


@pytest.mark.parametrize('batch', [1, 4])
def test_fuse_writes_one_fused_message_per_synchronised_pair(gappy_bag, tmp_path, batch):
    truth = json.loads((gappy_bag / GROUND_TRUTH_FILE).read_text())
    assert any(f['rgb_dropped'] for f in truth['frames'])  # the fixture really has gaps
    expected = count_pairs(gappy_bag, PAIR)
    engine = FusionEngine('fastfusion', device='cpu')
    report = fuse_bag(gappy_bag, tmp_path / 'out', engine, batch=batch)
    assert report.pairs == expected == report.fused and not report.failed
    out = tmp_path / 'out'
    fused = list(read_bag(out, [FUSED_TOPIC]))
    assert len(fused) == expected
    # each fused frame carries the header of an RGB frame, logged at that frame's time
    rgb = {m.header_stamp(): m.time_ns for m in read_bag(gappy_bag, [RGB_TOPIC])}
    assert all(rgb[m.header_stamp()] == m.time_ns for m in fused)
    assert len({m.header_stamp() for m in fused}) == expected
    assert fused[0].decode().header.frame_id == 'rgb_camera'
    assert fused[0].image().shape == (64, 96, 3)
    for topic in (ENHANCED_TOPIC, DAY_TOPIC, NIGHT_TOPIC):
        assert len(list(read_bag(out, [topic]))) == expected
    # inputs are copied alongside
    assert len(list(read_bag(out, PAIR))) == len(list(read_bag(gappy_bag, PAIR)))


def test_batched_and_single_fusion_give_the_same_pixels(small_bag, tmp_path):
    engine = FusionEngine('fastfusion', device='cpu')
    fuse_bag(small_bag, tmp_path / 'b1', engine, batch=1, copy_inputs=False)
    fuse_bag(small_bag, tmp_path / 'b8', engine, batch=8, copy_inputs=False)
    one = [m.image().astype(int) for m in read_bag(tmp_path / 'b1', [FUSED_TOPIC])]
    eight = [m.image().astype(int) for m in read_bag(tmp_path / 'b8', [FUSED_TOPIC])]
    assert len(one) == len(eight) == 60
    assert max(np.abs(a - b).max() for a, b in zip(one, eight)) <= 1  # float summation order


def test_a_bad_frame_is_named_and_the_rest_is_fused(tmp_path):
    bag = tmp_path / 'bad'
    rng = np.random.default_rng(0)
    with BagWriter(bag) as w:
        for k in range(5):
            s = 1_000_000_000 + k * 50_000_000
            w.write_image(THERMAL_TOPIC, rng.integers(0, 256, (16, 16), np.uint8), 'mono8', s,
                          't')
            size = (16, 16, 3) if k != 2 else (8, 8, 3)  # frame 2: RGB of another size
            w.write_image(RGB_TOPIC, rng.integers(0, 256, size, np.uint8), 'rgb8', s, 'c')
    report = fuse_bag(bag, tmp_path / 'out', FusionEngine('laplacian', device='cpu'), batch=4)
    assert report.pairs == 5 and report.fused == 4
    assert [s for s, _ in report.failed] == [1_100_000_000]
    assert 'differ in size' in report.failed[0][1]


def test_time_jump_back_restarts_the_synchronizer(small_bag, tmp_path):
    looped = tmp_path / 'looped'
    msgs = list(read_bag(small_bag))
    span = msgs[-1].time_ns - msgs[0].time_ns + 50_000_000
    with BagWriter(looped) as w:  # the same 3 s twice, log time running on, stamps repeating
        for lap in range(2):
            for m in msgs:
                w.write_raw(m.topic, m.msgtype, m.time_ns + lap * span, m.raw)
    report = fuse_bag(looped, tmp_path / 'out', FusionEngine('laplacian', device='cpu'))
    assert report.time_jumps == 1
    assert report.fused == 2 * count_pairs(small_bag, PAIR) == 120


def test_info_reports_counts_rates_and_pairs(gappy_bag, capsys):
    info = bag_info(gappy_bag)
    truth = json.loads((gappy_bag / GROUND_TRUTH_FILE).read_text())['frames']
    assert info.topics[RGB_TOPIC].count == sum(not f['rgb_dropped'] for f in truth)
    assert info.topics[THERMAL_TOPIC].count == sum(not f['thermal_dropped'] for f in truth)
    assert 14 < info.topics[RGB_TOPIC].rate_hz < 20  # 20 Hz minus the drops
    assert info.pairs == count_pairs(gappy_bag, PAIR) and info.pair_topics == PAIR
    assert 1.8 < info.duration_s < 2.0
    assert main(['bag', 'info', str(gappy_bag), '--json']) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc['pairs'] == info.pairs and doc['version'] == 9


def test_cli_fuse_reports_throughput(small_bag, tmp_path, capsys):
    out = tmp_path / 'fused'
    assert main(['bag', 'fuse', str(small_bag), str(out), '--model', 'laplacian', '--batch',
                 '4', '--outputs-only', '--no-enhanced']) == 0
    text = capsys.readouterr().out
    assert "fused 60/60 pairs with 'laplacian' on cpu" in text and 'pairs/s' in text
    topics = {m.topic for m in read_bag(out)}
    assert topics == {FUSED_TOPIC, DAY_TOPIC, NIGHT_TOPIC}


def test_cli_fuse_without_image_topics_is_a_clear_error(tmp_path, capsys):
    with BagWriter(tmp_path / 'other') as w:
        w.write_image('/camera/image_raw', np.zeros((4, 4), np.uint8), 'mono8', 1, 'c')
    assert main(['bag', 'fuse', str(tmp_path / 'other'), str(tmp_path / 'o')]) == 1
    assert 'no thermal + RGB image topics' in capsys.readouterr().err


def test_cli_fuse_with_detection_writes_the_detector_outputs(small_bag, tmp_path):
    out = tmp_path / 'det'
    assert main(['bag', 'fuse', str(small_bag), str(out), '--model', 'max', '--outputs-only',
                 '--detect', 'hog']) == 0
    fused = [m.header_stamp() for m in read_bag(out, [FUSED_TOPIC])]
    drawn = list(read_bag(out, ['/detections/image']))
    docs = [json.loads(m.decode().data) for m in read_bag(out, ['/detections/json'])]
    assert [m.header_stamp() for m in drawn] == fused == [d['stamp_ns'] for d in docs]
    assert drawn[0].image().shape == (128, 160, 3)

# SPDX-License-Identifier: Apache-2.0
"""The fusion node and ``bag fuse`` pair a stream and switch day/night identically: the
same random stamp streams (jitter, late and out-of-order frames, duplicates, a slow
thermal camera, a jump back) go through a configured FusionNode's callbacks and, written
as a recording, through ``bag fuse --params-file`` with the node's parameters file."""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from fusion_ros.bagtools.fuse import fuse_bag  # noqa: E402
from fusion_ros.bagtools.pairs import SyncedPairs  # noqa: E402
from fusion_ros.engine import FusionEngine  # noqa: E402
from fusion_ros.io.bag import BagWriter, read_bag  # noqa: E402
from fusion_ros.ros.fusion_node import FusionNode  # noqa: E402
from fusion_ros.ros.node_support import image_message  # noqa: E402
from fusion_ros.stream.pairing import FusionStream, StreamSettings  # noqa: E402
from fusion_ros.topics import FUSED_TOPIC, NIGHT_TOPIC, RGB_TOPIC, THERMAL_TOPIC  # noqa: E402

pytestmark = pytest.mark.ros
MS = 1_000_000
SIZE = (24, 32)


def _events(seed: int, thermal_hz: float, rgb_hz: float) -> list[tuple[int, int, float]]:
    """``(input, stamp ns, brightness)`` in arrival order: 6 s of two cameras with jitter,
    drops, duplicates, late frames, day and night 2.5 s each, then the stream again from
    an earlier stamp (a looping bag)."""
    rng = np.random.default_rng(seed)
    events: list[tuple[float, int, int, float]] = []  # (arrival, input, stamp, brightness)
    for lap in range(2):
        for index, hz in ((0, thermal_hz), (1, rgb_hz)):
            for k in range(int(6 * hz)):
                t = k / hz
                if rng.random() < 0.1:
                    continue  # dropped
                stamp = int((10 + t) * 1e9 + rng.normal(0, 4) * MS)
                bright = 0.9 if (t // 2.5) % 2 == 0 else 0.05  # day / night every 2.5 s
                arrival = lap * 100 + t + abs(rng.normal(0, 0.01))
                if rng.random() < 0.05:
                    arrival += 0.15  # late: behind its successors
                events.append((arrival, index, stamp, bright))
                if rng.random() < 0.03:
                    events.append((arrival + 0.001, index, stamp, bright))  # duplicate
    events.sort(key=lambda e: e[0])
    return [(i, s, b) for _, i, s, b in events]


def _frames(index: int, bright: float, stamp: int) -> np.ndarray:
    rng = np.random.default_rng(stamp % 2**32)
    noise = rng.integers(0, 20, SIZE, np.uint8)
    if index == 0:
        return (noise + 100).astype(np.uint8)
    level = int(bright * 230)
    return np.repeat((noise + level).clip(0, 255).astype(np.uint8)[..., None], 3, -1)


def _node_run(events, params: dict) -> tuple[list[tuple[int, int]], list[bool]]:
    overrides = [Parameter('autostart', value=False), Parameter('model', value='average'),
                 Parameter('backend', value='torch'), Parameter('publish_enhanced', value=False)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = FusionNode(parameter_overrides=overrides)
    try:
        pairs: list[tuple] = []
        node.image_pair_cb = lambda thermal, rgb: pairs.append((thermal, rgb))
        node.trigger_configure()
        nights: list[bool] = []
        node._out.night.publish = lambda msg: nights.append(msg.data)
        for index, stamp, bright in events:
            header = Header(frame_id='cam')
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            msg = image_message(_frames(index, bright, stamp), header)
            (node.thermal_cb if index == 0 else node.rgb_cb)(msg)
        stamps = []
        for thermal, rgb in pairs:
            node._fuse_and_publish(thermal, rgb, 0.0)
            stamps.append(tuple(m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec
                                for m in (thermal, rgb)))
        return stamps, nights
    finally:
        node.destroy_node()


def _bag_run(events, params: dict, tmp_path) -> tuple[list[tuple[int, int]], list[bool]]:
    bag = tmp_path / 'in'
    with BagWriter(bag) as writer:
        for k, (index, stamp, bright) in enumerate(events):  # log time: arrival order
            topic, enc = (THERMAL_TOPIC, 'mono8') if index == 0 else (RGB_TOPIC, 'rgb8')
            msg = writer.image_msg(_frames(index, bright, stamp), enc, stamp, 'cam')
            writer.write_msg(topic, msg, 1_000_000_000 + k * MS)
    params_file = tmp_path / 'fusion.yaml'
    lines = ['/**:', '  ros__parameters:'] + [f'    {k}: {v!r}'.replace("'", '')
                                               for k, v in params.items()]
    params_file.write_text('\n'.join(lines) + '\n')
    settings = StreamSettings.from_params_file(params_file)
    engine = FusionEngine('average', device='cpu', backend='torch', enhanced=False)
    report = fuse_bag(bag, tmp_path / 'out', engine, stream=settings, copy_inputs=False)
    assert not report.failed
    # outputs carry their RGB frame's log time (a late frame's sorts early): key by it
    fused: dict[int, int] = {}
    night_at: dict[int, bool] = {}
    for m in read_bag(tmp_path / 'out'):
        if m.topic == FUSED_TOPIC:
            fused[m.time_ns] = m.header_stamp()
        elif m.topic == NIGHT_TOPIC:
            night_at[m.time_ns] = bool(m.decoded.data)
    # bag fuse's own pairing path (SyncedPairs over the recording) names the thermal frames
    matched = list(SyncedPairs(bag, (THERMAL_TOPIC, RGB_TOPIC), stream=FusionStream(settings)))
    assert sorted(fused) == sorted(rgb.time_ns for _, rgb in matched)
    assert all(fused[rgb.time_ns] == rgb.header_stamp() for _, rgb in matched)
    pairs = [(t.header_stamp(), r.header_stamp()) for t, r in matched]
    nights = [night_at[r.time_ns] for _, r in matched]
    return pairs, nights


@pytest.mark.parametrize('params', [
    {},  # the defaults
    {'sync.policy': 'nearest', 'sync.slop': 0.04, 'illumination.min_dwell_s': 0.3},
    {'sync.slop': 0.01, 'sync.queue_size': 3, 'illumination.night_threshold': 0.2,
     'illumination.day_threshold': 0.8, 'illumination.min_dwell_s': 0.0},
], ids=['defaults', 'nearest', 'tight'])
def test_node_and_bag_fuse_make_the_same_pairs_and_day_night_switches(params, tmp_path):
    rclpy.init()
    try:
        events = _events(seed=len(params), thermal_hz=9.0 if params else 20.0, rgb_hz=20.0)
        node_pairs, node_nights = _node_run(events, params)
    finally:
        rclpy.try_shutdown()
    bag_pairs, bag_nights = _bag_run(events, params, tmp_path)
    assert len(node_pairs) > 20 and node_pairs == bag_pairs
    assert node_nights == bag_nights
    assert True in node_nights and False in node_nights  # the pattern did switch

# SPDX-License-Identifier: Apache-2.0
"""image_transport's compressed convention: JPEG-recorded real pairs replayed through the
node (transport chosen from the bag), 16-bit PNG thermal, CameraInfo republished with the
fused frames, and a connection wait that names what nobody subscribed to."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from sensor_msgs.msg import CompressedImage  # noqa: E402

from fusion_ros.bagtools.info import count_pairs  # noqa: E402
from fusion_ros.io.bag import read_bag  # noqa: E402
from fusion_ros.io.image_msg import decode_image  # noqa: E402
from fusion_ros.launch_plan import bag_transports  # noqa: E402
from fusion_ros.ros.pipeline import isolated_ros_env  # noqa: E402
from fusion_ros.topics import (  # noqa: E402
    DIAG_TOPIC,
    FUSED_INFO_TOPIC,
    FUSED_TOPIC,
    RGB_TOPIC,
    THERMAL_TOPIC,
    compressed,
)
from test.accounting import assert_every_pair_accounted  # noqa: E402

pytestmark = pytest.mark.ros


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = isolated_ros_env(int(os.environ['ROS_DOMAIN_ID']))
    return subprocess.run([sys.executable, '-m', 'fusion_ros', *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def jpeg_bag(shared_dir, tmp_path_factory):
    """40 real RoadScene pairs, JPEG-compressed as real recorders store them, at 10 Hz."""
    out = tmp_path_factory.mktemp('jpeg') / 'roadscene_jpeg'
    res = _cli('bag', 'convert', 'pairs', str(shared_dir / 'data' / 'pairs' / 'roadscene'),
               str(out), '--compress', 'jpeg', '--limit', '40', '--rate', '10')
    assert res.returncode == 0, res.stderr
    return out


def test_decode_keeps_16bit_png_thermal_and_decodes_jpeg_colour():
    raw = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 13) + 7000
    png = CompressedImage(format='mono16; png compressed',
                          data=cv2.imencode('.png', raw)[1].tobytes())
    out = decode_image(png)
    assert out.dtype == np.uint16 and np.array_equal(out, raw)  # lossless, still 16-bit
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = 200  # red
    jpg = CompressedImage(format='rgb8; jpeg compressed bgr8',
                          data=cv2.imencode('.jpg', rgb[..., ::-1])[1].tobytes())
    out = decode_image(jpg)
    assert out.shape == (32, 32, 3) and out[..., 0].mean() > 180 and out[..., 2].mean() < 20


@pytest.mark.shared
def test_jpeg_bag_replays_through_the_node_with_camera_info(jpeg_bag, tmp_path):
    assert bag_transports(str(jpeg_bag)) == {'transport.thermal': 'compressed',
                                             'transport.rgb': 'compressed'}
    out = tmp_path / 'out'
    res = _cli('launch', '--bag', str(jpeg_bag), '--exit-after-bag', '--no-detector',
               '--record', str(out))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'Traceback' not in res.stdout + res.stderr
    pairs = count_pairs(jpeg_bag, (compressed(THERMAL_TOPIC), compressed(RGB_TOPIC)))
    assert pairs == 40
    fused = list(read_bag(out, [FUSED_TOPIC]))
    statuses = [s for m in read_bag(out, [DIAG_TOPIC]) for s in m.decode().status
                if s.name.endswith(': fusion')]
    assert_every_pair_accounted({kv.key: kv.value for kv in statuses[-1].values}, pairs,
                                len(fused))
    # fused/camera_info: the RGB camera's CameraInfo with the stamp of each fused frame
    infos = {m.header_stamp(): m.decode() for m in read_bag(out, [FUSED_INFO_TOPIC])}
    assert {m.header_stamp() for m in fused} <= set(infos)
    for m in fused[:5]:
        image, info = m.decode(), infos[m.header_stamp()]
        assert (info.width, info.height) == (image.width, image.height)
        assert info.header.frame_id == image.header.frame_id == 'rgb_camera'


@pytest.mark.shared
def test_connection_wait_names_the_topics_nobody_subscribed_to(jpeg_bag):
    res = _cli('launch', '--bag', str(jpeg_bag), '--exit-after-bag', '--no-detector',
               '--set', 'transport.rgb=raw', '--ready-timeout', '8', timeout=120)
    assert res.returncode == 1, res.stdout[-2000:]
    assert 'Traceback' not in res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1, res.stderr[-2000:]
    assert '/rgb/image_raw/compressed' in errors[0] and 'CompressedImage' in errors[0]

# SPDX-License-Identifier: Apache-2.0
"""colcon build, then the installed launch files under the real ``ros2 launch``, asserted on
live topics and exit codes."""

from __future__ import annotations

import pytest

pytest.importorskip('rclpy')

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, String

from fusion_ros.io.bag import cdr_header_stamp, read_bag
from fusion_ros.topics import RGB_TOPIC
from test.launch.conftest import run_ros2

pytestmark = [pytest.mark.ros, pytest.mark.toolchain]


@pytest.fixture(scope='module')
def dusk_bag(tmp_path_factory):
    from fusion_ros.cli.synth import write_synthetic_bag

    path = tmp_path_factory.mktemp('launch') / 'dusk'
    write_synthetic_bag(path, seconds=10.0, size=(160, 128), seed=11, progress=False)
    return path


def test_colcon_installs_executables_launch_config_and_models(workspace):
    pkg = workspace.install / 'fusion_ros'
    for exe in ('fusion_node', 'detector_node'):
        assert (pkg / 'lib' / 'fusion_ros' / exe).is_file(), exe
    share = pkg / 'share' / 'fusion_ros'
    for rel in ('launch/fusion.launch.py', 'launch/replay.launch.py', 'config/fusion.yaml',
                'config/detector.yaml', 'config/fusion.rviz', 'config/fastdds_large_images.xml',
                'models/fastfusion.pt', 'package.xml'):
        assert (share / rel).is_file(), rel
    done, _ = run_ros2(workspace, ['pkg', 'executables', 'fusion_ros'], timeout=60)
    assert 'fusion_ros fusion_node' in done.stdout and 'fusion_ros detector_node' in done.stdout
    done, _ = run_ros2(workspace, ['pkg', 'prefix', 'fusion_ros'], timeout=60)
    assert done.stdout.strip() == str(pkg)  # the installed copy, not the source tree


def test_replay_launch_plays_once_fuses_and_ends_by_itself(workspace, dusk_bag):
    topics = {'/fused/image_raw': Image, '/enhanced/image_raw': Image,
              '/illumination/is_night': Bool, '/detections/json': String,
              '/diagnostics': DiagnosticArray}
    done, heard = run_ros2(workspace, ['launch', 'fusion_ros', 'replay.launch.py',
                                       f'bag:={dusk_bag}', 'drain:=2.0'], topics=topics)
    assert done.returncode == 0, done.stdout[-3000:]
    # one player: the included fusion.launch.py must not start a second one for our bag
    assert done.stdout.count('published 400 messages') == 1, done.stdout[-3000:]
    rgb_stamps = {cdr_header_stamp(m.raw) for m in read_bag(dusk_bag, [RGB_TOPIC])}
    fused = heard['/fused/image_raw']
    assert len(fused) >= 0.8 * len(rgb_stamps), (len(fused), done.stdout[-2000:])
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in fused]
    assert set(stamps) <= rgb_stamps and len(set(stamps)) == len(stamps)
    assert heard['/enhanced/image_raw'] and heard['/detections/json']
    night = [m.data for m in heard['/illumination/is_night']]
    assert not night[0] and night[-1]  # the synthetic sequence goes from day to night
    assert sum(a != b for a, b in zip(night, night[1:])) == 1
    fusion = [s for d in heard['/diagnostics'] for s in d.status if 'fusion' in s.name]
    values = {kv.key: kv.value for kv in fusion[-1].values}
    assert int(values['fused']) > 0 and values['model'] == 'fastfusion'
    assert values['precision']  # what precision auto resolved to


def test_replay_of_a_missing_bag_fails_with_the_players_error(workspace, tmp_path):
    done, _ = run_ros2(workspace, ['launch', 'fusion_ros', 'replay.launch.py',
                                   f'bag:={tmp_path / "nope"}', 'detector:=false'], timeout=90)
    assert done.returncode != 0, done.stdout[-2000:]
    assert 'did not play' in done.stdout and 'nope' in done.stdout

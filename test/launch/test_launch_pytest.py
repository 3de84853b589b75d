# SPDX-License-Identifier: Apache-2.0
"""launch_pytest: the installed fusion.launch.py (colcon workspace) playing a bag converted
from real RoadScene pairs, asserted on live topics; the player's exit code after shutdown.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest is not installed: `make tools` installs it from '
    'FUSION_ROS_SHARED/ros2')
pytest.importorskip('launch_ros')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from launch.actions import ExecuteProcess, IncludeLaunchDescription, TimerAction  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from launch import LaunchDescription  # noqa: E402
from test.accounting import assert_every_pair_accounted, drained  # noqa: E402
from test.bounds import HANG_S, wait_until  # noqa: E402
from test.launch.conftest import listening  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.toolchain, pytest.mark.shared]

PAIRS = 24


@pytest.fixture(scope='module')
def real_bag(shared_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('launch_pytest') / 'roadscene'
    subprocess.run([sys.executable, '-m', 'fusion_ros.cli.main', 'bag', 'convert', 'pairs',
                    str(shared_dir / 'data' / 'pairs' / 'roadscene'), str(out),
                    '--limit', str(PAIRS), '--rate', '10'], check=True, capture_output=True)
    return out


@pytest.fixture(scope='module')
def sourced(workspace):
    """The launch service runs in this process: give it the sourced workspace's environment."""
    saved = dict(os.environ)
    os.environ.update(workspace.env())
    yield workspace
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope='module')
def player(real_bag):
    from fusion_ros.launch_plan import bag_player_command

    return ExecuteProcess(cmd=bag_player_command(str(real_bag), player='fusion-ros'),
                          output='screen')


@launch_pytest.fixture(scope='module')
def stack(sourced, player):
    share = sourced.install / 'fusion_ros' / 'share' / 'fusion_ros'
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(share / 'launch' / 'fusion.launch.py')),
            launch_arguments={'detector': 'false'}.items()),
        # the test's listener subscribes once ReadyToTest is out; the bag starts after it
        TimerAction(period=5.0, actions=[player]),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=stack)
def test_real_pairs_are_fused_at_their_own_size(real_bag, player):
    from fusion_ros.io.bag import read_bag
    from fusion_ros.topics import RGB_TOPIC

    sizes = {}
    for m in read_bag(real_bag, [RGB_TOPIC]):
        msg = m.decode()
        sizes[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = (msg.width, msg.height)
    def statuses() -> list[dict[str, str]]:
        return [{kv.key: kv.value for kv in st.values} for d in list(heard['/diagnostics'])
                for st in d.status if 'fusion' in st.name]

    def played_and_drained() -> bool:
        last = statuses()[-2:]
        return (player.return_code is not None and len(last) == 2
                and drained(*last, len(heard['/fused/image_raw']),
                            heard.lost('/fused/image_raw')))

    with listening({'/fused/image_raw': Image, '/diagnostics': DiagnosticArray}) as heard:
        # the whole bag played, and the node's statuses say it has taken and fused or counted
        # every pair: how many it fuses on a loaded machine is a speed, each one is accounted
        wait_until(played_and_drained, 'the bag to play and the node to drain', HANG_S,
                   context=lambda: f'player {player.return_code}, {statuses()[-1:]}')
    fused = heard['/fused/image_raw']
    assert_every_pair_accounted(statuses()[-1], PAIRS, len(fused),
                                fused_missed=heard.lost('/fused/image_raw'))
    for msg in fused:
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        assert sizes[key] == (msg.width, msg.height) and msg.encoding == 'rgb8'
    assert player.return_code == 0  # the whole bag played

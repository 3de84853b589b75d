# SPDX-License-Identifier: Apache-2.0
"""launch_pytest: the installed package's fusion.launch.py replaying a synthetic bag with
``ros2 bag play``, asserted on live topics. Needs a full ROS 2 install (launch_pytest,
ros2bag, a colcon-built fusion_ros); skipped otherwise. The same scenarios run everywhere
through ``fusion-ros launch`` in test/ros/test_bringup.py.
"""

from __future__ import annotations

import os
import random
import time

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest is not installed (full ROS 2 install only); '
    'test/ros/test_bringup.py runs these scenarios through fusion-ros launch')
pytest.importorskip('launch_ros')
pytest.importorskip('ament_index_python')

import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.actions import (  # noqa: E402
    ExecuteProcess,
    IncludeLaunchDescription,
    TimerAction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402

from fusion_ros.cli.synth import write_synthetic_bag  # noqa: E402
from launch import LaunchDescription  # noqa: E402

pytestmark = pytest.mark.launch

os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 101)))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


@pytest.fixture(scope='module')
def synthetic_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp('launch') / 'dusk'
    write_synthetic_bag(path, seconds=8.0, size=(160, 128), seed=11, progress=False)
    return path


@pytest.fixture(scope='module')
def bag_player(synthetic_bag):
    return ExecuteProcess(cmd=['ros2', 'bag', 'play', str(synthetic_bag)], output='screen')


@launch_pytest.fixture(scope='module')
def launch_description(bag_player):
    share = get_package_share_directory('fusion_ros')
    stack = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'fusion.launch.py')),
        launch_arguments={'model': 'fastfusion'}.items())
    return LaunchDescription([
        stack,
        TimerAction(period=5.0, actions=[bag_player]),
        launch_pytest.actions.ReadyToTest(),
    ])


def _collect(topic: str, msg_type, seconds: float) -> list:
    rclpy.init()
    node = rclpy.create_node('launch_test_listener')
    got: list = []
    node.create_subscription(msg_type, topic, got.append, 50)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    return got


@pytest.mark.launch(fixture=launch_description)
def test_fused_images_and_night_state_arrive(bag_player, launch_context):
    from sensor_msgs.msg import Image

    fused = _collect('/fused/image_raw', Image, 12.0)
    assert len(fused) > 100
    assert all(m.header.frame_id == 'rgb_camera' for m in fused)


@pytest.mark.launch(fixture=launch_description)
def test_is_night_is_published(launch_context):
    states = _collect('/illumination/is_night', Bool, 5.0)
    assert states, 'no illumination/is_night'


@pytest.mark.launch(fixture=launch_description, shutdown=True)
def test_bag_player_finished_cleanly(launch_context, bag_player):
    yield  # runs after the launch has shut down
    assert bag_player.return_code == 0

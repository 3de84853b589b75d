# SPDX-License-Identifier: Apache-2.0
"""Replay a recording through the stack on simulated time, and stop when it has played.

    ros2 launch fusion_ros replay.launch.py bag:=night.mcap_bag rate:=0.5 rviz:=true

Starts fusion.launch.py with ``use_sim_time:=true``, plays the bag with ``--clock`` at
``rate``, and shuts everything down ``drain`` seconds after the player exits (the
``fusion-ros launch --bag BAG --exit-after-bag`` equivalent).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    RegisterEventHandler,
    TimerAction,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory('fusion_ros')
    player = ExecuteProcess(
        cmd=['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--clock', '--rate',
             LaunchConfiguration('rate')],
        output='screen',
    )
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 to replay'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback speed'),
        DeclareLaunchArgument('model', default_value='', description='fusion model'),
        DeclareLaunchArgument('device', default_value='', description='auto, cpu, cuda'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz2'),
        DeclareLaunchArgument('detector', default_value='true', description='detector node'),
        DeclareLaunchArgument('drain', default_value='3.0',
                              description='seconds to let outputs drain after the bag'),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'fusion.launch.py')),
            launch_arguments={
                'model': LaunchConfiguration('model'),
                'device': LaunchConfiguration('device'),
                'rviz': LaunchConfiguration('rviz'),
                'detector': LaunchConfiguration('detector'),
                'use_sim_time': 'true',
            }.items(),
        ),
        TimerAction(period=3.0, actions=[player]),  # let the nodes configure and subscribe
        RegisterEventHandler(OnProcessExit(
            target_action=player,
            on_exit=[TimerAction(period=LaunchConfiguration('drain'),
                                 actions=[EmitEvent(event=Shutdown(reason='bag played'))])],
        )),
    ])

# SPDX-License-Identifier: Apache-2.0
"""Launch the fusion node (and optionally a bag and rviz2).

    ros2 launch fusion_ros fusion.launch.py model:=fastfusion bag:=/path/to/bag rviz:=true

Parameters come from config/fusion.yaml; launch arguments override model and device.
Topics are relative (thermal/image_raw, rgb/image_raw, fused/image_raw): remap or use
``namespace``. Where launch is not installed, ``fusion-ros demo`` runs the same node.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import EqualsSubstitution, LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory('fusion_ros')
    config = os.path.join(share, 'config', 'fusion.yaml')
    fastdds_profile = os.path.join(share, 'config', 'fastdds_large_images.xml')
    args = [
        DeclareLaunchArgument('model', default_value='fastfusion', description='fusion model'),
        DeclareLaunchArgument('device', default_value='auto', description='auto, cpu, cuda'),
        DeclareLaunchArgument('namespace', default_value='', description='node namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='use /clock (true when playing a bag with --clock)'),
        DeclareLaunchArgument('bag', default_value='', description='rosbag2 to play'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz2'),
        DeclareLaunchArgument('fastdds_profile', default_value=fastdds_profile,
                              description='Fast DDS profile sized for 1 MB image messages'),
    ]
    bag = LaunchConfiguration('bag')
    return LaunchDescription([
        *args,
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               LaunchConfiguration('fastdds_profile')),
        Node(
            package='fusion_ros',
            executable='fusion_node',
            name='fusion_node',
            namespace=LaunchConfiguration('namespace'),
            parameters=[config, {
                'model': LaunchConfiguration('model'),
                'device': LaunchConfiguration('device'),
                'use_sim_time': LaunchConfiguration('use_sim_time'),
            }],
            output='screen',
        ),
        ExecuteProcess(
            cmd=['ros2', 'bag', 'play', bag, '--clock'],
            condition=UnlessCondition(EqualsSubstitution(bag, '')),
            output='screen',
        ),
        Node(
            package='rviz2',
            executable='rviz2',
            arguments=['-d', os.path.join(share, 'config', 'fusion.rviz')],
            condition=IfCondition(LaunchConfiguration('rviz')),
        ),
    ])

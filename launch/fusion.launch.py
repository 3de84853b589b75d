# SPDX-License-Identifier: Apache-2.0
"""Launch the fusion node and the detector node (optionally a bag and rviz2).

    ros2 launch fusion_ros fusion.launch.py model:=fastfusion bag:=/path/to/bag rviz:=true

``bag:=`` plays a recording alongside (``ros2 bag play`` where rosbag2 is installed, else
``fusion-ros bag play``; ``player:=`` chooses). Which nodes run and with which parameter
files (config/fusion.yaml, config/detector.yaml) comes from ``fusion_ros.launch_plan``, the
same plan ``fusion-ros launch`` runs where launch is not installed, so the two cannot drift.
Topics are relative (thermal/image_raw, rgb/image_raw, fused/image_raw, detections, ...):
remap or use ``namespace``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from fusion_ros.launch_plan import bag_player_command, bag_transports, plan_nodes
from launch import LaunchDescription

SHARE = get_package_share_directory('fusion_ros')


def _truthy(context, name: str) -> bool:
    return LaunchConfiguration(name).perform(context).lower() in ('true', '1', 'yes')


def _nodes(context, *args, **kwargs):
    bag = LaunchConfiguration('bag').perform(context)
    # a bag recorded compressed (image_raw/compressed) is heard through transport compressed
    transports = bag_transports(bag, LaunchConfiguration('namespace').perform(context)) \
        if bag else {}
    for name in ('thermal', 'rgb'):
        chosen = LaunchConfiguration(f'{name}_transport').perform(context)
        if chosen:
            transports[f'transport.{name}'] = chosen
    plans = plan_nodes(model=LaunchConfiguration('model').perform(context),
                       device=LaunchConfiguration('device').perform(context),
                       detector=_truthy(context, 'detector'),
                       use_sim_time=_truthy(context, 'use_sim_time'),
                       overrides={'fusion_node': transports} if transports else None)
    return [
        Node(package='fusion_ros', executable=plan.executable, name=plan.name,
             namespace=LaunchConfiguration('namespace'),
             parameters=[os.path.join(SHARE, plan.config), plan.overrides], output='screen')
        for plan in plans
    ]


def _player(context, *args, **kwargs):
    bag = LaunchConfiguration('bag').perform(context)
    if not bag:
        return []
    return [ExecuteProcess(
        cmd=bag_player_command(bag, player=LaunchConfiguration('player').perform(context)),
        output='screen')]


def generate_launch_description() -> LaunchDescription:
    fastdds_profile = os.path.join(SHARE, 'config', 'fastdds_large_images.xml')
    return LaunchDescription([
        DeclareLaunchArgument('model', default_value='',
                              description='fusion model (empty: config/fusion.yaml)'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto, cpu, cuda (empty: config/fusion.yaml)'),
        DeclareLaunchArgument('namespace', default_value='', description='node namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='follow /clock (true when replaying with --clock)'),
        DeclareLaunchArgument('bag', default_value='', description='rosbag2 to play'),
        DeclareLaunchArgument('thermal_transport', default_value='',
                              description='raw or compressed (empty: from bag, else config)'),
        DeclareLaunchArgument('rgb_transport', default_value='',
                              description='raw or compressed (empty: from bag, else config)'),
        DeclareLaunchArgument('player', default_value='auto',
                              description='auto (ros2 bag play if installed), ros2, fusion-ros'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz2'),
        DeclareLaunchArgument('detector', default_value='true',
                              description='start the detector node on fused/image_raw'),
        DeclareLaunchArgument('fastdds_profile', default_value=fastdds_profile,
                              description='Fast DDS profile sized for 1 MB image messages'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               LaunchConfiguration('fastdds_profile')),
        OpaqueFunction(function=_nodes),
        OpaqueFunction(function=_player),
        Node(
            package='rviz2',
            executable='rviz2',
            arguments=['-d', os.path.join(SHARE, 'config', 'fusion.rviz')],
            condition=IfCondition(LaunchConfiguration('rviz')),
        ),
    ])

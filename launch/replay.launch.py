# SPDX-License-Identifier: Apache-2.0
"""Replay a recording through the stack on simulated time, and stop when it has played.

    ros2 launch fusion_ros replay.launch.py bag:=night.mcap_bag rate:=0.5 rviz:=true

Starts fusion.launch.py with ``use_sim_time:=true``, plays the bag with ``--clock`` at
``rate`` (``ros2 bag play`` where rosbag2 is installed, else ``fusion-ros bag play``;
``player:=ros2|fusion-ros`` chooses), and shuts everything down ``drain`` seconds after the
player exits. A player that fails (a missing or unreadable bag) ends the launch with its
exit code in the error and ``ros2 launch`` exits 1, so a replay that played nothing never
reports success (the ``fusion-ros launch --bag BAG --exit-after-bag`` equivalent).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    GroupAction,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
    TimerAction,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from fusion_ros.errors import FusionError
from fusion_ros.launch_plan import bag_player_command, bag_transports
from launch import LaunchDescription


class PlayerFailed(RuntimeError):
    """Raised inside launch: its event loop then ends the launch with exit code 1."""


def _after_player(event, context, bag: str):
    if event.returncode != 0:
        raise PlayerFailed(f'the bag player exited with code {event.returncode} '
                           f'({bag!r} did not play)')
    return [TimerAction(period=LaunchConfiguration('drain'),
                        actions=[EmitEvent(event=Shutdown(reason='bag played'))])]


def _stack(context, *args, **kwargs):
    # every value is read here, once: the included file must see bag:='' (or it would start
    # a second player), so nothing below may look the launch configuration up later
    share = get_package_share_directory('fusion_ros')
    value = {name: LaunchConfiguration(name).perform(context)
             for name in ('bag', 'rate', 'player', 'model', 'device', 'rviz', 'detector')}
    try:
        transports = bag_transports(value['bag'])
    except FusionError:  # unreadable bag: the player fails on it and says why
        transports = {}
    player = ExecuteProcess(
        cmd=bag_player_command(value['bag'], rate=value['rate'], player=value['player']),
        output='screen',
    )
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'fusion.launch.py')),
        launch_arguments={
            'model': value['model'], 'device': value['device'], 'rviz': value['rviz'],
            'detector': value['detector'], 'use_sim_time': 'true', 'bag': '',
            'thermal_transport': transports.get('transport.thermal', ''),
            'rgb_transport': transports.get('transport.rgb', ''),
        }.items(),
    )
    return [
        # launch configurations are global unless scoped: keep the include's to itself
        GroupAction(scoped=True, forwarding=True, actions=[include]),
        RegisterEventHandler(OnProcessExit(
            target_action=player,
            on_exit=lambda event, ctx, bag=value['bag']: _after_player(event, ctx, bag))),
        TimerAction(period=3.0, actions=[player]),  # let the nodes configure and subscribe
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 to replay'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback speed'),
        DeclareLaunchArgument('player', default_value='auto',
                              description='auto (ros2 bag play if installed), ros2, fusion-ros'),
        DeclareLaunchArgument('model', default_value='', description='fusion model'),
        DeclareLaunchArgument('device', default_value='', description='auto, cpu, cuda'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz2'),
        DeclareLaunchArgument('detector', default_value='true', description='detector node'),
        DeclareLaunchArgument('drain', default_value='3.0',
                              description='seconds to let outputs drain after the bag'),
        OpaqueFunction(function=_stack),
    ])

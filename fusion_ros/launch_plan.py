# SPDX-License-Identifier: Apache-2.0
"""Which nodes the stack runs, with which configuration: the one plan behind both
``launch/fusion.launch.py`` (a full ROS install) and ``fusion-ros launch`` (here), so the
two cannot drift. Imports nothing from ROS.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from fusion_ros.errors import ConfigError

__all__ = ['PLAYERS', 'NodePlan', 'bag_player_command', 'bag_transports', 'parse_override',
           'plan_nodes', 'ros_arguments']

PLAYERS = ('auto', 'ros2', 'fusion-ros')


@dataclass(frozen=True)
class NodePlan:
    """One node process.

    Attributes:
        name: node name (also the key of ``--set name:key=value``).
        executable: console script installed by setup.py (``ros2 run fusion_ros <it>``).
        module: the same entry point as a Python module (``python -m <it>``).
        config: parameter file under the package share (``config/fusion.yaml``).
        overrides: parameters set on top of the file.
    """

    name: str
    executable: str
    module: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)


def plan_nodes(*, model: str = '', device: str = '', detector: bool = True,
               use_sim_time: bool = False,
               overrides: dict[str, dict[str, Any]] | None = None) -> list[NodePlan]:
    """The fusion node, and the detector node on its output unless ``detector`` is False.

    Empty ``model``/``device`` keep the config file's values. ``overrides`` maps a node name
    to extra parameters.
    """
    overrides = overrides or {}
    fusion: dict[str, Any] = {}
    if model:
        fusion['model'] = model
    if device:
        fusion['device'] = device
    plans = [NodePlan('fusion_node', 'fusion_node', 'fusion_ros.ros.fusion_node',
                      'config/fusion.yaml', fusion)]
    if detector:
        plans.append(NodePlan('detector_node', 'detector_node', 'fusion_ros.ros.detector_node',
                              'config/detector.yaml', {}))
    unknown = set(overrides) - {p.name for p in plans}
    if unknown:
        raise ConfigError(f'--set for nodes that are not started: {sorted(unknown)}')
    for plan in plans:
        plan.overrides.update(overrides.get(plan.name, {}))
        if use_sim_time:
            plan.overrides['use_sim_time'] = True
    return plans


def _ros_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_ros_value(v) for v in value) + ']'
    return str(value)


def ros_arguments(plan: NodePlan, config_path: str, namespace: str = '') -> list[str]:
    """``--ros-args`` of a node process: name, namespace, parameter file, overrides."""
    args = ['--ros-args', '-r', f'__node:={plan.name}']
    if namespace:
        args += ['-r', f'__ns:=/{namespace.strip("/")}']
    args += ['--params-file', config_path]
    for key, value in plan.overrides.items():
        args += ['-p', f'{key}:={_ros_value(value)}']
    return args


def parse_override(text: str) -> tuple[str, str, Any]:
    """``[node:]key=value`` -> (node, key, YAML-typed value); node defaults to fusion_node."""
    import yaml

    if '=' not in text:
        raise ConfigError(f'expected [node:]key=value, got {text!r}')
    target, raw = text.split('=', 1)
    node, _, key = target.rpartition(':')
    if not key:
        raise ConfigError(f'expected [node:]key=value, got {text!r}')
    return node or 'fusion_node', key, yaml.safe_load(raw)


def bag_player_command(bag: str, *, rate: str = '1.0', clock: bool = True,
                       player: str = 'auto') -> list[str]:
    """The command that plays ``bag`` onto live topics.

    ``ros2`` is ``ros2 bag play`` (rosbag2, C++: a full ROS install); ``fusion-ros`` is our
    ``fusion-ros bag play`` (same timing, ``--clock``, ``--rate``), which also waits for the
    nodes to subscribe; ``auto`` takes rosbag2 where its ``ros2 bag`` plugin is installed.
    """
    if player not in PLAYERS:
        raise ConfigError(f'player must be one of {PLAYERS}, got {player!r}')
    if player == 'auto':
        player = 'ros2' if importlib.util.find_spec('ros2bag') is not None else 'fusion-ros'
    if player == 'ros2':
        return ['ros2', 'bag', 'play', bag, '--rate', rate, *(['--clock'] if clock else [])]
    return ['fusion-ros', 'bag', 'play', bag, '--rate', rate, '--wait-subscribers', '30',
            *(['--clock'] if clock else [])]


def bag_transports(bag: str, namespace: str = '') -> dict[str, str]:
    """The fusion node's ``transport.*`` parameters that let it hear ``bag``: ``compressed``
    for an input recorded only as ``.../image_raw/compressed`` (most recorded driving data),
    nothing for raw ones. Raises :class:`~fusion_ros.errors.BagError` for an unreadable bag.
    """
    from fusion_ros.io.bag import bag_topics
    from fusion_ros.topics import RGB_TOPIC, THERMAL_TOPIC, compressed

    topics = bag_topics(bag)
    prefix = '/' + namespace.strip('/') if namespace.strip('/') else ''
    out = {}
    for name, topic in (('thermal', THERMAL_TOPIC), ('rgb', RGB_TOPIC)):
        if prefix + topic not in topics and compressed(prefix + topic) in topics:
            out[f'transport.{name}'] = 'compressed'
    return out

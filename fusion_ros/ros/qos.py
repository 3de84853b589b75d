# SPDX-License-Identifier: Apache-2.0
"""QoS from string parameters (REP-2003): ``sensor_data`` for camera inputs, ``default`` out."""

from __future__ import annotations

from rclpy.qos import (
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
    qos_profile_system_default,
)

from fusion_ros.errors import ConfigError

__all__ = ['QOS_NAMES', 'RELIABILITIES', 'check_reliability', 'make_qos']

QOS_NAMES = ('sensor_data', 'default', 'system_default', 'reliable', 'best_effort')
RELIABILITIES = ('best_effort', 'reliable')  # what a node's qos.*.reliability may say


def check_reliability(param: str, value: str) -> str:
    """``value`` when it is a reliability a subscription or publisher can take; else a
    :class:`ConfigError` naming the parameter and the choices."""
    if value not in RELIABILITIES:
        raise ConfigError(f'{param} = {value!r}; use one of {", ".join(RELIABILITIES)}')
    return value


def make_qos(name: str, depth: int) -> QoSProfile:
    """Profile for a QoS name with history KEEP_LAST(``depth``).

    ``sensor_data`` and ``best_effort`` are best effort, ``default``/``reliable`` reliable.
    A best-effort publisher never reaches a reliable subscriber: subscribe to cameras with
    ``sensor_data``.
    """
    if depth < 1:
        raise ConfigError(f'QoS depth must be >= 1, got {depth!r}')
    if name == 'sensor_data':
        profile = QoSProfile(**_fields(qos_profile_sensor_data))
    elif name == 'system_default':
        profile = QoSProfile(**_fields(qos_profile_system_default))
    elif name in ('default', 'reliable'):
        profile = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
    elif name == 'best_effort':
        profile = QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT)
    else:
        raise ConfigError(f'unknown QoS {name!r}; use one of {", ".join(QOS_NAMES)}')
    profile.history = HistoryPolicy.KEEP_LAST
    profile.depth = depth
    return profile


def _fields(profile: QoSProfile) -> dict:
    return {
        'history': profile.history,
        'depth': profile.depth,
        'reliability': profile.reliability,
        'durability': profile.durability,
    }

# SPDX-License-Identifier: Apache-2.0
"""Map rosbag2 type names (``pkg/msg/Name``) to rclpy message classes."""

from __future__ import annotations

import importlib
from typing import Any

from fusion_ros.errors import BagError

__all__ = ['import_msg_type']


def import_msg_type(msgtype: str) -> Any:
    """``sensor_msgs/msg/Image`` -> ``sensor_msgs.msg.Image``."""
    pkg, kind, name = (msgtype.split('/') + ['', ''])[:3]
    try:
        return getattr(importlib.import_module(f'{pkg}.{kind}'), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise BagError(f'message type {msgtype!r} is not available in this ROS install') from err

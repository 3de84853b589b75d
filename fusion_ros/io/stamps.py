# SPDX-License-Identifier: Apache-2.0
"""Header stamps as integer nanoseconds: one conversion for the nodes and the bag tools.

Works on rclpy's ``builtin_interfaces/Time`` and on rosbags' messages alike (both have
``sec`` and ``nanosec``).
"""

from __future__ import annotations

from typing import Any

__all__ = ['NS_PER_S', 'stamp_key', 'stamp_ns']

NS_PER_S = 1_000_000_000


def stamp_ns(stamp: Any) -> int:
    """A ``sec``/``nanosec`` stamp as nanoseconds (exact: no float in between)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def stamp_key(stamp: Any) -> tuple[int, int]:
    """``(sec, nanosec)``: a hashable key for messages that must meet by stamp."""
    return int(stamp.sec), int(stamp.nanosec)

# SPDX-License-Identifier: Apache-2.0
"""Parameter specs: the single home of every node parameter's default and description."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

__all__ = ['ROS_BUILTIN_PARAMS', 'ParamSpec', 'check_overrides', 'declare_params', 'read_params']


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    Attributes:
        name: dotted name, e.g. ``sync.slop``.
        default: default value; its type is the parameter's type.
        description: shown by ``ros2 param describe``.
        range: inclusive (min, max) for numbers.
        read_only: cannot change after start-up.
    """

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    read_only: bool = False

    def check(self, value: Any) -> Any:
        """``value`` if it has this parameter's type and lies in its range (ints are taken
        for floats, as ROS does); :class:`~fusion_ros.errors.ConfigError` says why not."""
        from fusion_ros.errors import ConfigError

        kind = type(self.default)
        ok = isinstance(value, kind) and (kind is not int or not isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if kind is list and ok:
            want = type(self.default[0]) if self.default else None
            ok = want is None or all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                     if want is float else isinstance(v, want) for v in value)
        if not ok:
            raise ConfigError(f'parameter {self.name} takes {_kind_name(self.default)}, got '
                              f'{value!r}')
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            raise ConfigError(f'parameter {self.name} must be in [{self.range[0]}, '
                              f'{self.range[1]}], got {value!r}')
        return value

    def descriptor(self) -> ParameterDescriptor:
        desc = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.range is not None:
            lo, hi = self.range
            if isinstance(self.default, int) and not isinstance(self.default, bool):
                desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
            elif isinstance(self.default, float):
                desc.floating_point_range = [
                    FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
                ]
        return desc


def _kind_name(default: Any) -> str:
    if isinstance(default, bool):
        return 'true or false'
    if isinstance(default, list):
        return 'a list of numbers' if default and isinstance(default[0], float) else 'a list'
    return {int: 'an integer', float: 'a number', str: 'a string'}.get(type(default),
                                                                          type(default).__name__)


def check_overrides(specs: Sequence[ParamSpec], values: dict[str, Any], node: str) -> None:
    """Check ``--set`` style overrides against ``specs`` before any process starts.

    Raises:
        ConfigError: an unknown parameter (the message lists the known ones) or a bad value.
    """
    from fusion_ros.errors import ConfigError

    known = {spec.name: spec for spec in specs}
    for name, value in values.items():
        if name in ROS_BUILTIN_PARAMS:
            continue
        if name not in known:
            raise ConfigError(f'{node} has no parameter {name!r}; it has: '
                              f'{", ".join(sorted(known))}')
        known[name].check(value)


ROS_BUILTIN_PARAMS = ('use_sim_time',)  # declared by rclpy on every node


def declare_params(node: Node, specs: Iterable[ParamSpec]) -> None:
    """Declare every spec on ``node`` with its descriptor (ranges enforced by rclpy)."""
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())


def read_params(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Current values of ``specs`` by name."""
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}

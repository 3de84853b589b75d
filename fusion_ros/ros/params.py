# SPDX-License-Identifier: Apache-2.0
"""Parameter specs: the single home of every node parameter's default and description."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

__all__ = ['ParamSpec', 'declare_params', 'read_params']


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


def declare_params(node: Node, specs: Iterable[ParamSpec]) -> None:
    """Declare every spec on ``node`` with its descriptor (ranges enforced by rclpy)."""
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())


def read_params(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Current values of ``specs`` by name."""
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}

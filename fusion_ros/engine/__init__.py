# SPDX-License-Identifier: Apache-2.0
"""The inference engine every node and tool uses."""

from fusion_ros.engine.engine import DEFAULT_MODEL, FusionEngine, FusionResult, resolve_device

__all__ = ['DEFAULT_MODEL', 'FusionEngine', 'FusionResult', 'resolve_device']

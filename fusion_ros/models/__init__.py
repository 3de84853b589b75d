# SPDX-License-Identifier: Apache-2.0
"""Fusion models, all built by name through :func:`build_model`."""

from fusion_ros.models import classical, dfvo, didfuse, fastfusion, piafusion  # noqa: F401 - registers the models
from fusion_ros.models._base import FusionModel, FusionOutput
from fusion_ros.models._builder import build_model, load_state_dict
from fusion_ros.models._registry import list_models, register_model

__all__ = [
    'FusionModel',
    'FusionOutput',
    'build_model',
    'list_models',
    'load_state_dict',
    'register_model',
]

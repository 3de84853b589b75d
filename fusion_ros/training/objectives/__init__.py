# SPDX-License-Identifier: Apache-2.0
"""What each model is trained to do: one module per model, each objective registered
under its model's name (``OBJECTIVES``); ``base`` holds what they share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fusion_ros.training.objectives import dfvo, didfuse, fastfusion, piafusion  # noqa: F401
from fusion_ros.training.objectives.base import (
    OBJECTIVES,
    SHARED_LOSS_TERMS,
    Objective,
    as_fp32,
    check_loss_terms,
    objective_class,
    register_objective,
    weighted_sum,
)
from fusion_ros.training.objectives.dfvo import DFVOObjective
from fusion_ros.training.objectives.didfuse import DIDFuseObjective
from fusion_ros.training.objectives.fastfusion import FastFusionObjective
from fusion_ros.training.objectives.piafusion import (
    PIAFusionClassifierObjective,
    PIAFusionObjective,
)

__all__ = ['OBJECTIVES', 'SHARED_LOSS_TERMS', 'DFVOObjective', 'DIDFuseObjective',
           'FastFusionObjective', 'Objective', 'PIAFusionClassifierObjective',
           'PIAFusionObjective', 'as_fp32', 'build_objective', 'check_loss_terms',
           'objective_class', 'register_objective', 'weighted_sum']


def build_objective(name: str, options: Mapping[str, Any], weights: Mapping[str, float],
                    settings: Mapping[str, Any]) -> Objective:
    """The objective of trainable model ``name`` (a key of :data:`OBJECTIVES`)."""
    return objective_class(name)(options, weights, settings)

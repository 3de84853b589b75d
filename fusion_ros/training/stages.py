# SPDX-License-Identifier: Apache-2.0
"""Multi-stage recipes: an objective may need another stage trained first
(``Objective.first_stage``: PIAFusion trains its illumination classifier, freezes it and
lets it weight the fusion loss). Every stage is a run folder of its own, so ``--resume``
continues whichever stage was interrupted and skips the finished ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fusion_ros.training.config import TrainConfig, load_train_config
from fusion_ros.training.objectives import objective_class
from fusion_ros.training.trainer import train

__all__ = ['SHARED_SETTINGS', 'train_with_stages']

# settings of a stage-2 run that stage 1 inherits (the rest comes from its own YAML)
SHARED_SETTINGS = ('data', 'val_data', 'val_fraction', 'seed', 'device', 'precision', 'workers',
                   'cache_mb', 'exclude')


def train_with_stages(config: TrainConfig, resume: bool = False, progress: bool = True,
                      log: Callable[[str], None] = print,
                      stage_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``config``, after the first stage its objective needs (if any and not given).

    The first stage runs in ``RUN_DIR/<setting>`` (PIAFusion: ``RUN_DIR/classifier``) and its
    best checkpoint becomes that setting of the second.

    Args:
        stage_overrides: command-line settings that apply to every stage (steps, batch...).
    """
    first = objective_class(config.model).first_stage(config.settings)
    if first is None:
        return train(config, resume, progress, log)
    stage_name, setting = first
    stage_dir = Path(config.out) / setting
    shared = {k: getattr(config, k) for k in SHARED_SETTINGS}
    stage1 = load_train_config(stage_name, **{**(stage_overrides or {}), **shared},
                               out=str(stage_dir))
    if (stage_dir / 'final.pt').exists():
        log(f'stage 1 ({stage_name}) already done: {stage_dir}')
    else:
        log(f'stage 1: {stage_name} -> {stage_dir}')
        train(stage1, resume, progress, log)
    log(f'stage 2: {config.model} with the stage-1 {setting}')
    settings = {**config.settings, setting: str(stage_dir / 'best.pt')}
    return train(replace(config, settings=settings), resume, progress, log)

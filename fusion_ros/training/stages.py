# SPDX-License-Identifier: Apache-2.0
"""Multi-stage recipes: PIAFusion trains its illumination classifier first, freezes it, and
lets it weight the fusion loss. Every stage is a run folder of its own, so ``--resume``
continues whichever stage was interrupted and skips the finished ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fusion_ros.training.config import TrainConfig, load_train_config
from fusion_ros.training.trainer import train

__all__ = ['CLASSIFIER_STAGE', 'SHARED_SETTINGS', 'train_with_stages']

CLASSIFIER_STAGE = 'classifier'  # sub-folder of RUN_DIR holding PIAFusion's stage 1
# settings of a stage-2 run that stage 1 inherits (the rest comes from its own YAML)
SHARED_SETTINGS = ('data', 'val_data', 'val_fraction', 'seed', 'device', 'precision', 'workers',
                   'cache_mb', 'exclude')


def train_with_stages(config: TrainConfig, resume: bool = False, progress: bool = True,
                      log: Callable[[str], None] = print,
                      stage_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``config``; for PIAFusion without a classifier, train stage 1 first.

    Args:
        stage_overrides: command-line settings that apply to every stage (steps, batch...).
    """
    needs_classifier = (config.model == 'piafusion'
                        and config.settings.get('illumination', 'classifier') == 'classifier'
                        and not config.settings.get('classifier'))
    if not needs_classifier:
        return train(config, resume, progress, log)
    stage_dir = Path(config.out) / CLASSIFIER_STAGE
    shared = {k: getattr(config, k) for k in SHARED_SETTINGS}
    stage1 = load_train_config('piafusion-classifier', **{**(stage_overrides or {}), **shared},
                               out=str(stage_dir))
    if (stage_dir / 'final.pt').exists():
        log(f'stage 1 (illumination classifier) already done: {stage_dir}')
    else:
        log(f'stage 1: illumination classifier -> {stage_dir}')
        train(stage1, resume, progress, log)
    log('stage 2: fusion network with the frozen classifier')
    settings = {**config.settings, 'classifier': str(stage_dir / 'best.pt')}
    return train(replace(config, settings=settings), resume, progress, log)

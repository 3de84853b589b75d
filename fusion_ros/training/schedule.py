# SPDX-License-Identifier: Apache-2.0
"""The learning rate of every step, a pure function of the step: a resumed run needs no
scheduler state to continue exactly.

``step`` schedule: ``lr`` x ``gamma`` at each epoch of ``milestones`` (as MultiStepLR stepped
per epoch). ``cosine``: from ``lr`` down to ``lr_floor`` x ``lr`` over the run's steps. Either
starts with a linear warm-up over ``warmup_steps``: DFVO's constant 5e-4 diverged where a
warm-up and decay let a run use a higher peak (issue 35).
"""

from __future__ import annotations

import math

from fusion_ros.training.config import TrainConfig

__all__ = ['SCHEDULES', 'lr_factor']

SCHEDULES = ('step', 'cosine')


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int, total: int) -> float:
    """The factor on ``config.lr`` for the step about to run (``step`` counts the steps
    already taken)."""
    if config.schedule == 'cosine':
        progress = min(step / max(total, 1), 1.0)
        decay = config.lr_floor + (1.0 - config.lr_floor) * 0.5 * (1.0 + math.cos(math.pi *
                                                                             progress))
    else:
        epoch = step // max(steps_per_epoch, 1)
        decay = config.gamma ** sum(epoch >= m for m in config.milestones)
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    return warm * decay

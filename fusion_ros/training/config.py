# SPDX-License-Identifier: Apache-2.0
"""Training configuration: ``config/train/MODEL.yaml`` defaults < ``--config`` file < flags.

Every run saves the resolved configuration in ``RUN_DIR/config.yaml`` and in its
checkpoints, so a resumed run can be checked against the one it continues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from fusion_ros.defaults import PRECISIONS
from fusion_ros.errors import ConfigError
from fusion_ros.resources import share_file

VALIDATION_METRICS = ('EN', 'SD', 'SF', 'Qabf')  # what training.validation reports

__all__ = ['TrainConfig', 'load_train_config']


@dataclass
class TrainConfig:
    """Everything a run depends on. Field docs are in ``config/train/*.yaml``."""

    model: str
    data: list[str] = field(default_factory=list)
    out: str = 'runs/train'
    val_data: list[str] = field(default_factory=list)
    val_fraction: float = 0.1
    # validation windows (training.validation): tiles of val_tile px (0: patch) that cover
    # each held-out image, each seen with val_margin px of context the metrics never score;
    # at most val_patches windows in all
    val_patches: int = 64
    val_tile: int = 0
    val_margin: int = 8
    # what best.pt is chosen by: loss (the lowest) or a validation score (the highest: Qabf,
    # EN, SD, SF)
    best_by: str = 'loss'
    epochs: int = 30
    steps: int | None = None
    batch: int = 16
    patch: int = 128
    sampling: str = 'random'
    patches_per_image: int = 8
    stride: int | None = None
    flips: bool = True
    # share of the crops not labelled night darkened into synthetic night (training.data.darken)
    # and labelled night, in training and validation
    night_augment: float = 0.0
    # share of the training crops whose thermal and visible images each get a random gamma
    # (training.data.photometric_gamma): which source is the brighter varies by rig
    photometric: float = 0.0
    # share of the random crops zoomed by a factor in [1 / zoom_spread, zoom_spread]
    # (training.data.PatchDataset): edges at the pixel scales of other cameras' frame sizes
    zoom: float = 0.0
    zoom_spread: float = 3.0
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    schedule: str = 'step'  # step (milestones x gamma) | cosine (to lr_floor x lr); schedule.py
    lr_floor: float = 0.0
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps
    grad_clip: float = 0.0  # largest gradient norm (all parameters); 0: no clipping
    # decay of an exponential moving average of the weights (training.averaging) that
    # validation, best.pt and final.pt use; 0: off, the weights of the step
    ema: float = 0.0
    loss: dict[str, float] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    # parameter-name prefixes of the model to train (e.g. [day]); empty: all of it
    train_only: list[str] = field(default_factory=list)
    seed: int = 0
    device: str = 'auto'
    precision: str = 'auto'  # auto | fp32 | bf16 | fp16: autocast, see engine.precision
    # data loader processes; -1: auto (none on the CPU, where they would take the step's
    # cores; up to 4 with a GPU)
    workers: int = -1
    cache_mb: float = 4096.0
    save_every: int = 0  # steps between checkpoints besides each epoch end; 0: epochs only
    exclude: list[str] = field(default_factory=list)
    # weights to start from (an exported file or a run's last.pt): fine-tuning, or a second
    # stage of one model; a resumed run ignores it (its checkpoint holds the weights)
    init: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d['betas'] = list(self.betas)
        return d


_FIELDS = {f.name for f in fields(TrainConfig)}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f'cannot read training config {str(path)!r}: {err}') from err
    if not isinstance(data, dict):
        raise ConfigError(f'{str(path)!r} must hold a mapping of settings')
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f'{str(path)!r}: unknown setting(s) {unknown}; known: {sorted(_FIELDS)}')
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if value is None:
            continue
        if key in ('loss', 'model_options', 'settings') and isinstance(value, Mapping):
            out[key] = {**out.get(key, {}), **value}  # a partial override keeps the rest
        else:
            out[key] = value
    return out


def load_train_config(model: str, config_file: Path | str | None = None,
                      **overrides: Any) -> TrainConfig:
    """Resolve the configuration of a run of ``model``.

    Args:
        model: trainer name (``fastfusion``, ``piafusion``, ``piafusion-classifier``,
            ``didfuse``, ``dfvo``); its shipped ``config/train/MODEL.yaml`` is the base.
        config_file: a YAML file overriding some settings.
        overrides: settings from the command line; None means "not given".

    Raises:
        ConfigError: unknown model or setting, or a value out of range.
    """
    try:
        defaults = share_file(f'config/train/{model}.yaml')
    except ConfigError:
        raise ConfigError(f'no training config for {model!r} (config/train/{model}.yaml); '
                          'trainable: fastfusion, piafusion, piafusion-classifier, didfuse, '
                          'dfvo') from None
    values = _read_yaml(defaults)
    if config_file is not None:
        values = _merge(values, _read_yaml(Path(config_file)))
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise ConfigError(f'unknown setting(s) {unknown}')
    values = _merge(values, overrides)
    values['model'] = model
    if 'betas' in values:
        values['betas'] = tuple(float(b) for b in values['betas'])
    config = TrainConfig(**values)
    _validate(config)
    # before any stage runs: a misspelt loss weight would otherwise train without its term
    from fusion_ros.training.objectives import check_loss_terms, objective_class

    check_loss_terms(objective_class(model), config.loss)
    return config


def _validate(c: TrainConfig) -> None:
    problems = []
    if c.epochs < 1:
        problems.append(f'epochs must be >= 1, got {c.epochs}')
    if c.steps is not None and c.steps < 1:
        problems.append(f'steps must be >= 1, got {c.steps}')
    if c.batch < 1:
        problems.append(f'batch must be >= 1, got {c.batch}')
    if c.workers < -1:
        problems.append(f'workers must be >= 0 (or -1: auto), got {c.workers}')
    if c.patch < 8:
        problems.append(f'patch must be >= 8, got {c.patch}')
    if c.lr <= 0:
        problems.append(f'lr must be > 0, got {c.lr}')
    if c.val_tile and c.val_tile < 8 or c.val_tile < 0 or c.val_margin < 0:
        problems.append(f'val_tile must be 0 or >= 8 and val_margin >= 0, got {c.val_tile}, '
                        f'{c.val_margin}')
    if c.schedule not in ('step', 'cosine'):
        problems.append(f'schedule must be step or cosine, got {c.schedule!r}')
    if not 0 <= c.lr_floor <= 1 or c.warmup_steps < 0 or c.grad_clip < 0:
        problems.append(f'lr_floor must be in [0, 1], warmup_steps and grad_clip >= 0, got '
                        f'{c.lr_floor}, {c.warmup_steps}, {c.grad_clip}')
    if not 0 <= c.ema < 1:
        problems.append(f'ema must be in [0, 1) (0: off), got {c.ema}')
    if c.best_by not in ('loss', *VALIDATION_METRICS):
        problems.append(f'best_by must be loss or one of {list(VALIDATION_METRICS)}, got '
                        f'{c.best_by!r}')
    if not 0 <= c.val_fraction < 1:
        problems.append(f'val_fraction must be in [0, 1), got {c.val_fraction}')
    if len(c.betas) != 2:
        problems.append(f'betas must be two numbers, got {c.betas}')
    if c.precision not in PRECISIONS:
        problems.append(f'precision must be one of {list(PRECISIONS)}, got {c.precision!r}')
    if not 0 <= c.night_augment <= 1:
        problems.append(f'night_augment must be in [0, 1], got {c.night_augment}')
    if not 0 <= c.photometric <= 1:
        problems.append(f'photometric must be in [0, 1], got {c.photometric}')
    if not 0 <= c.zoom <= 1 or c.zoom_spread < 1:
        problems.append(f'zoom must be in [0, 1] and zoom_spread >= 1, got {c.zoom}, '
                        f'{c.zoom_spread}')
    if problems:
        raise ConfigError('; '.join(problems))

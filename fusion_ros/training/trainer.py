# SPDX-License-Identifier: Apache-2.0
"""A small resumable trainer: patches in, checkpoints, a CSV history and a loss plot out.

Each model has a *recipe*: the function that turns a batch into named losses. The run
folder holds ``last.pt`` (model + optimiser + epoch + history; ``--resume`` continues from
it with the same data order), ``weights.pt`` (the model's state dict alone, what the node
loads), ``history.csv`` and ``loss.png``. Checkpoints are plain tensors and numbers, so they
load with ``weights_only=True``.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fusion_ros.errors import ConfigError
from fusion_ros.models import build_model
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.training.data import PairImage, PatchDataset, load_pairs
from fusion_ros.training.losses import exposure_loss, piafusion_loss, smoothness_loss

__all__ = ['RECIPES', 'TrainConfig', 'day_labels', 'train']


@dataclass
class TrainConfig:
    """Everything a run depends on (saved in its checkpoints)."""

    model: str
    data: list[str]
    out: str
    epochs: int = 30
    batch_size: int = 16
    patch: int = 128
    patches_per_image: int = 8
    lr: float = 1e-3
    seed: int = 0
    loss_variant: str = 'paper'
    illumination_weights: str | None = None
    exclude: list[str] = field(default_factory=list)
    model_options: dict[str, Any] = field(default_factory=dict)


def day_labels(pairs: list[PairImage], classifier: str | None) -> torch.Tensor:
    """P(day) per pair: PIAFusion's classifier when given, else the MSRS-style name suffix
    (``...D.png`` day, ``...N.png`` night), else the weight-free luminance estimate."""
    from fusion_ros.ops.illumination import luminance_day_probability

    model = None
    if classifier:
        from fusion_ros.models.piafusion import (
            illumination_probabilities,
            load_illumination_classifier,
        )

        model = load_illumination_classifier(classifier)
    labels = []
    for pair in pairs:
        rgb = torch.from_numpy(pair.rgb.transpose(2, 0, 1).copy())[None]
        stem = Path(pair.name).stem
        with torch.inference_mode():
            if model is not None:
                labels.append(float(illumination_probabilities(model(rgb))[0, 0]))
            elif stem[-1:] in ('D', 'N'):
                labels.append(1.0 if stem.endswith('D') else 0.0)
            else:
                y = COLOUR_TRANSFORMS['bt601_full'][0](rgb)[:, :1]
                labels.append(float(luminance_day_probability(y)[0]))
    return torch.tensor(labels)


Recipe = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, str],
                  dict[str, torch.Tensor]]


def _fusion_inputs(model: torch.nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    return COLOUR_TRANSFORMS[getattr(model, 'colour', 'bt601_full')][0](rgb)[:, :1]


def _recipe_piafusion(model: torch.nn.Module, ir: torch.Tensor, rgb: torch.Tensor,
                      day: torch.Tensor, variant: str) -> dict[str, torch.Tensor]:
    y = _fusion_inputs(model, rgb)
    return piafusion_loss(model(ir, y).fused, ir, y, day, variant)


def _recipe_fastfusion(model: torch.nn.Module, ir: torch.Tensor, rgb: torch.Tensor,
                       day: torch.Tensor, variant: str) -> dict[str, torch.Tensor]:
    y = _fusion_inputs(model, rgb)
    out = model(ir, y)
    losses = piafusion_loss(out.fused, ir, y, day, variant)
    # light curve: expose dark frames towards mid-grey, smoothly (Zero-DCE's two terms)
    losses['exposure'] = exposure_loss(out.enhanced)
    losses['curve_tv'] = smoothness_loss(out.enhanced - y)
    losses['day_bce'] = torch.nn.functional.binary_cross_entropy(
        out.day_probability.clamp(1e-6, 1 - 1e-6), day.to(out.day_probability))
    losses['total'] = (losses['total'] + 5 * losses['exposure'] + 20 * losses['curve_tv']
                       + 0.5 * losses['day_bce'])
    return losses


RECIPES: dict[str, Recipe] = {'fastfusion': _recipe_fastfusion, 'piafusion': _recipe_piafusion}


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``config.model``; returns a summary (epochs, final losses, seconds, paths)."""
    from tqdm import tqdm

    if config.model not in RECIPES:
        raise ConfigError(f'no training recipe for {config.model!r}; trainable: '
                          f'{sorted(RECIPES)}')
    if config.epochs < 1 or config.batch_size < 1 or config.patch < 8:
        raise ConfigError('epochs and batch size must be >= 1, patch >= 8')
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = build_model(config.model, pretrained=False, **config.model_options).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict[str, float]] = []
    start_epoch = 0
    ckpt_path = out / 'last.pt'
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)
        if ckpt['config']['model'] != config.model:
            raise ConfigError(f'{ckpt_path} is a {ckpt["config"]["model"]} run')
        model.load_state_dict(ckpt['model'])
        optimiser.load_state_dict(ckpt['optimizer'])
        start_epoch, history = int(ckpt['epoch']), list(ckpt['history'])
        log(f'resuming {ckpt_path} after epoch {start_epoch}')

    pairs = load_pairs(config.data, exclude=config.exclude)
    labels = day_labels(pairs, config.illumination_weights)
    log(f'{len(pairs)} pairs, {int((labels >= 0.5).sum())} day / '
        f'{int((labels < 0.5).sum())} night; {model.num_params():,d} parameters')
    dataset = PatchDataset(pairs, config.patch, config.patches_per_image, config.seed)
    recipe = RECIPES[config.model]
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        dataset.epoch = epoch
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(config.seed + epoch))
        sums: dict[str, float] = {}
        bar = tqdm(loader, desc=f'epoch {epoch + 1}/{config.epochs}', disable=not progress,
                   leave=False, unit='batch')
        for ir, rgb, index in bar:
            losses = recipe(model, ir, rgb, labels[index], config.loss_variant)
            if not torch.isfinite(losses['total']):
                raise FloatingPointError(f'loss became {losses["total"].item()} in epoch '
                                         f'{epoch + 1}; lower --lr')
            optimiser.zero_grad(set_to_none=True)
            losses['total'].backward()
            optimiser.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            bar.set_postfix(loss=f'{float(losses["total"]):.4f}')
        row = {'epoch': epoch + 1, **{k: v / len(loader) for k, v in sums.items()}}
        history.append(row)
        log(f'epoch {epoch + 1}/{config.epochs}: ' +
            ' '.join(f'{k} {v:.4f}' for k, v in row.items() if k != 'epoch'))
        torch.save({'model': model.state_dict(), 'optimizer': optimiser.state_dict(),
                    'epoch': epoch + 1, 'history': history, 'config': asdict(config)},
                   ckpt_path)
    seconds = time.perf_counter() - started
    torch.save(model.state_dict(), out / 'weights.pt')
    _write_history(out, history)
    summary = {'epochs': len(history), 'final': history[-1] if history else {},
               'seconds': round(seconds, 1), 'weights': str(out / 'weights.pt'),
               'params': model.num_params()}
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    return summary


def _write_history(out: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    keys = list(history[-1])
    with open(out / 'history.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.array([r['epoch'] for r in history])
    for key in keys[1:]:
        ax.plot(epochs, [r.get(key, np.nan) for r in history], label=key)
    ax.set_xlabel('epoch')
    ax.set_ylabel('loss')
    ax.set_yscale('log')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'loss.png', dpi=100)
    plt.close(fig)

# SPDX-License-Identifier: Apache-2.0
"""Validation on the held-out pairs, scored as ``fusion-ros eval`` scores whole images.

Each held-out image is cut into tiles that partition it; the network sees each tile with
``margin`` pixels of real context around it (one window), and the fusion metrics count the
tile's pixels only, pooled per image (:class:`fusion_ros.metrics.PooledScore`). So a window's
border is never scored as an edge (64-px patches scored Qabf 0.58 where the full images
scored 0.39-0.49, issue 35), and with every tile kept the score is the image's own. The loss
terms are the mean over the windows, context included, as before.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fusion_ros.errors import ConfigError
from fusion_ros.metrics import SOURCE_CORRELATIONS, PooledScore
from fusion_ros.metrics.pooled import Window, tile_windows
from fusion_ros.training.config import VALIDATION_METRICS
from fusion_ros.training.data import PairCache, _unit

if TYPE_CHECKING:
    from fusion_ros.training.run import TrainingRun

__all__ = ['VALIDATION_METRICS', 'ValidationWindows', 'validate']



class ValidationWindows(Dataset):
    """The windows of every pair of ``cache`` (see :func:`tile_windows`).

    Args:
        tile: side of the scored tiles.
        margin: context around each tile; windows are ``tile + 2 margin`` square, images
            smaller than that are padded by reflection (the padding is never scored).
        max_items: keep an evenly spaced subset of at most this many windows (all images
            keep some; the pooled score of a subset estimates the image's).

    Items: ``(ir (1, S, S), rgb (3, S, S), day, pair index, tile box (4,))``.
    """

    def __init__(self, cache: PairCache, tile: int, margin: int,
                 max_items: int | None = None) -> None:
        if tile < 8 or margin < 0:
            raise ConfigError(f'validation tile must be >= 8 and margin >= 0, got {tile}, '
                              f'{margin}')
        self.cache, self.size = cache, tile + 2 * margin
        self.items: list[tuple[int, Window]] = []
        for i in range(len(cache)):
            self.items += [(i, w) for w in tile_windows(*cache.size(i), tile, margin)]
        if max_items and len(self.items) > max_items:
            keep = np.linspace(0, len(self.items) - 1, max_items).round().astype(int)
            self.items = [self.items[k] for k in keep]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int
                    ) -> tuple[torch.Tensor, torch.Tensor, float, int, torch.Tensor]:
        pair, win = self.items[index]
        ir, rgb = self.cache.get(pair)
        s = self.size
        crop = np.concatenate((ir[win.top:win.top + s, win.left:win.left + s, None],
                               rgb[win.top:win.top + s, win.left:win.left + s]), 2)
        pad_h, pad_w = s - crop.shape[0], s - crop.shape[1]
        if pad_h or pad_w:  # an image smaller than a window
            mode = 'reflect' if min(crop.shape[:2]) > max(pad_h, pad_w) else 'edge'
            crop = np.pad(crop, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
        tensor = torch.from_numpy(_unit(np.ascontiguousarray(crop.transpose(2, 0, 1))))
        return (tensor[:1], tensor[1:], self.cache.day_label(pair), pair,
                torch.tensor(win.box))


def validate(run: TrainingRun, dataset: ValidationWindows | None) -> dict[str, float]:
    """Mean loss terms over the windows, plus each fusion metric pooled per held-out image
    and averaged over the images, ``corr_ir`` / ``corr_vi``: the fused image's correlation
    with each source (|r| near 1: a copy of one source, not a fusion), and ``fused_range``:
    the fused image's max - min over every window (0 for a network whose output head has
    saturated)."""
    from fusion_ros.ops.convert import tensor_to_uint8

    if dataset is None or len(dataset) == 0:
        return {}
    sums: dict[str, float] = {}
    count = 0
    score = PooledScore((*VALIDATION_METRICS, *SOURCE_CORRELATIONS))
    low, high = math.inf, -math.inf  # the fused image's extremes over every window
    objective = run.objective
    objective.eval()
    with torch.no_grad():  # the objective runs its networks under the run's autocast
        for ir, rgb, day, pairs, boxes in DataLoader(dataset, batch_size=run.config.batch):
            ir, rgb, day = run.inputs(ir, rgb, day)
            terms, fused = objective.compute(ir, rgb, day)  # one forward for both
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(ir)
            count += len(ir)
            if fused is None:
                fused = objective.fused(ir, rgb)
            if fused is None:
                continue
            fused = fused.float()
            low, high = min(low, float(fused.min())), max(high, float(fused.max()))
            y = objective.luminance(rgb)
            for i in range(len(ir)):
                a, b, f = (tensor_to_uint8(t[i:i + 1]) for t in (ir, y, fused))
                score.add(int(pairs[i]), a, b, f, tuple(int(v) for v in boxes[i]))
    objective.train()
    row = {('loss' if k == 'total' else k): v / count for k, v in sums.items()}
    row.update(score.result())
    if high >= low:  # a model with a fused output: its spread tells a dead network apart
        row['fused_range'] = high - low
    return row

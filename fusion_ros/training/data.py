# SPDX-License-Identifier: Apache-2.0
"""Aligned IR/visible pair folders -> random training patches.

Each set is a folder with ``ir/`` and ``vi/`` holding images with the same file names (the
layout of ``shared/data/pairs/*`` and of MSRS/LLVIP/RoadScene). Images are decoded once and
kept in memory as float32 in [0, 1]: thermal as one channel, visible as RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from fusion_ros.errors import ConfigError
from fusion_ros.io.image_files import pair_folders, read_image, read_thermal
from fusion_ros.ops.convert import thermal_to_unit, visible_to_unit

__all__ = ['PairImage', 'PatchDataset', 'load_pairs']


@dataclass
class PairImage:
    """One aligned pair in memory: ``ir`` :math:`(H, W)`, ``rgb`` :math:`(H, W, 3)`."""

    name: str
    ir: np.ndarray
    rgb: np.ndarray


def load_pairs(folders: Sequence[Path | str],
               exclude: Sequence[Path | str] = ()) -> list[PairImage]:
    """Read every pair of every ``folder`` (``ir/`` + ``vi/``); pairs whose sizes differ or
    lack a counterpart raise, so nothing is dropped silently.

    Args:
        folders: set folders.
        exclude: folders that must not be among ``folders`` (the evaluation set).
    """
    banned = {Path(p).resolve() for p in exclude}
    pairs: list[PairImage] = []
    for folder in map(Path, folders):
        if folder.resolve() in banned:
            raise ConfigError(f'{str(folder)!r} is the evaluation set; keep it out of training')
        found, unmatched = pair_folders(folder / 'ir', folder / 'vi')
        if unmatched:
            raise ConfigError(f'{folder}: ir/ and vi/ differ in file names, e.g. '
                              f'{[f"{n}: {r}" for n, r in unmatched[:3]]}')
        for name, (ir_path, vi_path) in found.items():
            t = thermal_to_unit(read_thermal(ir_path))
            v = visible_to_unit(read_image(vi_path))
            if v.ndim == 2:
                v = np.repeat(v[..., None], 3, axis=2)
            if t.shape != v.shape[:2]:
                raise ConfigError(f'{folder.name}/{name}: IR {t.shape} and visible '
                                  f'{v.shape[:2]} differ in size')
            pairs.append(PairImage(f'{folder.name}/{name}', t, v))
    if not pairs:
        raise ConfigError(f'no training pairs in {[str(f) for f in folders]}')
    return pairs


class PatchDataset(Dataset):
    """Random aligned crops with random flips; ``patches_per_image`` crops per epoch.

    Items: ``(ir (1, P, P), rgb (3, P, P), index)`` float tensors in [0, 1]. Images smaller
    than the patch are padded by reflection. Crops depend only on ``seed``, epoch and index,
    so a resumed run sees the same data as an uninterrupted one.
    """

    def __init__(self, pairs: Sequence[PairImage], patch: int = 128,
                 patches_per_image: int = 8, seed: int = 0) -> None:
        self.pairs = list(pairs)
        self.patch = patch
        self.per_image = patches_per_image
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs) * self.per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        pair_index = index // self.per_image
        pair = self.pairs[pair_index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        stack = np.concatenate((pair.ir[..., None], pair.rgb), 2)
        p = self.patch
        pad_h, pad_w = max(0, p - stack.shape[0]), max(0, p - stack.shape[1])
        if pad_h or pad_w:
            stack = np.pad(stack, ((0, pad_h), (0, pad_w), (0, 0)), mode='reflect')
        top = int(rng.integers(0, stack.shape[0] - p + 1))
        left = int(rng.integers(0, stack.shape[1] - p + 1))
        crop = stack[top:top + p, left:left + p]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1]
        tensor = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        return tensor[:1], tensor[1:], pair_index

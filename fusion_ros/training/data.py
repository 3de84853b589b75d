# SPDX-License-Identifier: Apache-2.0
"""Training pairs -> aligned patches (random or the papers' stride crops), plus the held-out
validation split.

Decoded pairs are kept in memory up to a budget (``PairCache``; 8-bit pairs as uint8, a
quarter of float32's bytes, converted per crop); beyond it they are read from disk again
when needed. Every random choice (crop position, flips) depends only on
``seed``, epoch and item index, so a resumed run sees exactly the data of an uninterrupted
one, and any number of DDP ranks see disjoint slices of the same epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from fusion_ros.errors import ConfigError
from fusion_ros.training.sources import TrainPair

__all__ = ['SAMPLINGS', 'PairCache', 'PatchDataset', 'darken', 'photometric_gamma', 'resized',
           'split_validation']

SAMPLINGS = ('random', 'stride', 'grid')


class PairCache:
    """Decoded ``(ir, rgb)`` of each pair, kept while the total stays under ``budget_mb``:
    uint8 for 8-bit pairs (exactly x / 255 once cropped, see :func:`_unit`), else float32
    in [0, 1]."""

    def __init__(self, pairs: Sequence[TrainPair], budget_mb: float = 4096) -> None:
        self.pairs = list(pairs)
        self.budget = budget_mb * 2**20
        self.used = 0
        self._kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sizes: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._kept.get(index)
        if hit is not None:
            return hit
        ir, rgb = self.pairs[index].load(keep_uint8=True)
        self._sizes[index] = ir.shape
        if self.used + ir.nbytes + rgb.nbytes <= self.budget:
            self._kept[index] = (ir, rgb)
            self.used += ir.nbytes + rgb.nbytes
        return ir, rgb

    def size(self, index: int) -> tuple[int, int]:
        """(H, W) of a pair (decodes it once if it was never read)."""
        if index not in self._sizes:
            self.get(index)
        return self._sizes[index]

    def day_label(self, index: int) -> float:
        """1 day, 0 night, NaN when the data carries no label."""
        night = self.pairs[index].is_night
        return math.nan if night is None else float(not night)


def split_validation(pairs: Sequence[TrainPair], fraction: float,
                     seed: int = 0) -> tuple[list[TrainPair], list[TrainPair]]:
    """Hold out ``fraction`` of the pairs (at least one when there are two or more), chosen
    by a seeded permutation so the split is the same on every run and every rank."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f'validation fraction must be in [0, 1), got {fraction}')
    n = len(pairs)
    count = 0 if fraction == 0 or n < 2 else max(1, round(n * fraction))
    order = np.random.default_rng(seed).permutation(n)
    held = set(order[:count].tolist())
    return ([p for i, p in enumerate(pairs) if i not in held],
            [p for i, p in enumerate(pairs) if i in held])


class PatchDataset(Dataset):
    """Aligned crops of the pairs of ``cache``.

    Args:
        patch: crop size; images smaller than it are padded by reflection.
        sampling: ``random`` (``patches_per_image`` random crops per image and epoch),
            ``stride`` (every crop on a grid with step ``stride``, as PIAFusion and DIDFuse
            prepare their training sets) or ``grid`` (``stride`` without flips: validation).
        flips: random horizontal and vertical flips (``random`` and ``stride``).
        max_items: keep an evenly spaced subset of at most this many crops (grid/stride).
        night_augment: share of the crops not labelled night that are turned into synthetic
            night (:func:`darken`) and labelled night (0.0).
        photometric: share of the crops whose two images each get a gamma of their own
            (:func:`photometric_gamma`): the relative brightness of the sources varies
            from camera to camera, so the base choice must not learn one rig's.
        zoom: share of the random crops cut from a square of ``patch / s`` pixels and
            resized to ``patch``, with ``s`` drawn log-uniformly in
            ``[1 / zoom_spread, zoom_spread]`` (bounded by the frame's short side): a
            camera of another resolution sees the same scene with its edges spread over
            more or fewer pixels, and a network with a small receptive field learns the
            edges of one pixel scale only.

    Items: ``(ir (1, P, P), rgb (3, P, P), day)`` with ``day`` 1.0, 0.0 or NaN (no label).
    """

    def __init__(self, cache: PairCache, patch: int = 128, sampling: str = 'random',
                 patches_per_image: int = 8, stride: int | None = None, flips: bool = True,
                 seed: int = 0, max_items: int | None = None,
                 night_augment: float = 0.0, photometric: float = 0.0,
                 zoom: float = 0.0, zoom_spread: float = 3.0) -> None:
        if sampling not in SAMPLINGS:
            raise ConfigError(f'sampling must be one of {SAMPLINGS}, got {sampling!r}')
        if patch < 8 or patches_per_image < 1 or (stride is not None and stride < 1):
            raise ConfigError('patch must be >= 8, patches per image and stride >= 1')
        if not 0.0 <= night_augment <= 1.0:
            raise ConfigError(f'night_augment must be in [0, 1], got {night_augment}')
        if not 0.0 <= photometric <= 1.0:
            raise ConfigError(f'photometric must be in [0, 1], got {photometric}')
        if not 0.0 <= zoom <= 1.0 or zoom_spread < 1.0:
            raise ConfigError(f'zoom must be in [0, 1] and zoom_spread >= 1, got {zoom}, '
                              f'{zoom_spread}')
        if zoom and sampling != 'random':
            raise ConfigError(f'zoom needs random sampling (crops anywhere), not {sampling!r}')
        self.night_augment, self.photometric = night_augment, photometric
        self.zoom, self.zoom_spread = zoom, zoom_spread
        self.cache, self.patch, self.sampling = cache, patch, sampling
        self.per_image, self.seed, self.epoch = patches_per_image, seed, 0
        self.flips = flips and sampling != 'grid'
        self.positions: list[tuple[int, int, int]] = []
        if sampling != 'random':
            step = stride or patch
            for i in range(len(cache)):
                h, w = cache.size(i)
                tops = range(0, max(h - patch, 0) + 1, step)
                lefts = range(0, max(w - patch, 0) + 1, step)
                self.positions += [(i, t, left) for t in tops for left in lefts]
            if max_items and len(self.positions) > max_items:
                keep = np.linspace(0, len(self.positions) - 1, max_items).round().astype(int)
                self.positions = [self.positions[k] for k in keep]

    def __len__(self) -> int:
        return len(self.positions) if self.positions else len(self.cache) * self.per_image

    def __getitem__(self, index: int | tuple[int, int]
                    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        # (epoch, index): the trainer names the epoch in the index, because persistent
        # loader workers hold their own copy of the dataset and never see ``self.epoch`` change
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        rng = np.random.default_rng((self.seed, epoch, index))
        p = self.patch
        if self.positions:
            pair_index, top, left = self.positions[index]
        else:
            pair_index = index // self.per_image
        ir, rgb = self.cache.get(pair_index)
        h, w = ir.shape
        side = p
        if not self.positions:
            side = self._zoomed_side(h, w, (self.seed, epoch, index))
            top = int(rng.integers(0, max(h - side, 0) + 1))
            left = int(rng.integers(0, max(w - side, 0) + 1))
        # crop first, then stack: copying whole 1280x1024 frames per crop cost 4 ms
        crop = np.concatenate((ir[top:top + side, left:left + side, None],
                               rgb[top:top + side, left:left + side]), 2)
        if side != p:
            crop = resized(crop, (p, p))
        pad_h, pad_w = p - crop.shape[0], p - crop.shape[1]
        if pad_h or pad_w:  # image smaller than the patch
            mode = 'reflect' if min(crop.shape[:2]) > 1 else 'edge'
            crop = np.pad(crop, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
        if self.flips and rng.random() < 0.5:
            crop = crop[:, ::-1]
        if self.flips and rng.random() < 0.5:
            crop = crop[::-1]
        crop = _unit(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        day = self.cache.day_label(pair_index)
        # drawn for every crop, so switching the augmentation on changes no other choice
        darken_draw = rng.random()
        if day != 0.0 and darken_draw < self.night_augment:
            crop = np.concatenate((crop[:1], darken(crop[1:], rng)))
            day = 0.0
        if rng.random() < self.photometric:
            crop = photometric_gamma(crop, rng)
        tensor = torch.from_numpy(crop)
        return tensor[:1], tensor[1:], day

    def _zoomed_side(self, h: int, w: int, key: tuple[int, int, int]) -> int:
        """The side of the square a random crop is cut from: ``patch``, or for the zoomed
        share ``patch / s``. Drawn from a generator of its own, so switching the zoom on
        changes no other choice of any crop."""
        p = self.patch
        if not self.zoom:
            return p
        rng = np.random.default_rng((*key, 1))
        if rng.random() >= self.zoom:
            return p
        scale = np.exp(rng.uniform(-np.log(self.zoom_spread), np.log(self.zoom_spread)))
        side = int(round(p / scale))
        return max(8, min(side, max(p, min(h, w))))


def resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W[, C]) at ``size`` (W, H) as a camera of that frame size would see it:
    area averaging when shrinking (no aliasing), cubic when enlarging (edges spread over
    more pixels); float images stay in [0, 1] (cubic overshoots)."""
    h, w = image.shape[:2]
    shrink = size[0] * size[1] < w * h
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out if out.dtype == np.uint8 else np.clip(out, 0.0, 1.0)


def darken(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A day crop ``(3, P, P)`` in [0, 1] as a camera would see the scene at night.

    Light is scaled in linear space (sRGB-like gamma 2.2) by 2-20 %; the camera's
    auto-exposure then brings it back up by a gain of 1-4x, but not past 30 % of the day's
    exposure (a night frame stays dark: at most 0.58x the day's grey levels), and the gain
    amplifies shot and read noise; a cooler or warmer white balance shifts the channels by
    up to 15 %.
    """
    linear = rgb.astype(np.float32) ** 2.2
    light = rng.uniform(0.02, 0.2)
    gain = min(rng.uniform(1.0, 4.0), 0.3 / light)
    tint = rng.uniform(0.85, 1.15, size=(3, 1, 1)).astype(np.float32)
    signal = linear * np.float32(light * gain) * tint
    read = np.float32(rng.uniform(0.002, 0.01) * gain)
    sigma = np.sqrt(signal * np.float32(0.0005 * gain)) + read
    noisy = signal + rng.standard_normal(rgb.shape, dtype=np.float32) * sigma
    return np.clip(noisy, 0.0, 1.0) ** np.float32(1 / 2.2)


def photometric_gamma(crop: np.ndarray, rng: np.random.Generator,
                       spread: float = 1.8) -> np.ndarray:
    """A crop ``(1 + 3, P, P)`` in [0, 1] with the thermal image and the visible one each
    raised to a gamma drawn log-uniformly in [1 / spread, spread]: monotone, so every edge
    and its direction stay, while which source is the brighter changes."""
    gammas = np.exp(rng.uniform(-np.log(spread), np.log(spread), size=2)).astype(np.float32)
    out = np.empty_like(crop)
    out[:1] = np.clip(crop[:1], 0.0, 1.0) ** gammas[0]
    out[1:] = np.clip(crop[1:], 0.0, 1.0) ** gammas[1]
    return out


def _unit(crop: np.ndarray) -> np.ndarray:
    """float32 [0, 1]; uint8 scaled exactly as :func:`fusion_ros.ops.convert.visible_to_unit`
    and ``thermal_to_unit`` scale 8-bit images, so cached uint8 gives the same bits."""
    if crop.dtype == np.uint8:
        return crop.astype(np.float32) * np.float32(1.0 / 255.0)
    return crop

# SPDX-License-Identifier: Apache-2.0
"""Scores of whole images built from windows of them (the trainer's validation).

A crop scored as a picture of its own is not the same as that part of the image: Qabf's
Sobel filters see a step from the crop's content to the zero padding at every crop border,
which every output "preserves", so 64-px patches scored 0.58 where the full images scored
0.39-0.49 (issue 35). Here each window carries ``margin`` pixels of real context around a
tile; the filters run over the whole window and only the tile's pixels are counted, and the
counts of all tiles of one image are pooled before the ratio is taken. Tiles that partition
an image give that image's own EN, SD and Qabf (up to the 1-pixel seams between tiles, whose
context is the window's own output) and its SF up to the missing differences across seams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fusion_ros.errors import ConfigError, ShapeError
from fusion_ros.metrics.fusion_metrics import (
    CONVENTIONS,
    edge_preservation_maps,
    entropy,
    standard_deviation,
)

__all__ = ['POOLED_METRICS', 'SOURCE_CORRELATIONS', 'PooledScore', 'Window', 'tile_windows']

POOLED_METRICS = ('EN', 'SD', 'SF', 'Qabf')
# Pearson correlation of the fused image with the thermal (a) and the visible (b) image: not
# a quality score but a check that the network fuses; |r| near 1 with one source is a copy of
# that source (or of its negative), which can still score a high Qabf and VIF
SOURCE_CORRELATIONS = ('corr_ir', 'corr_vi')

Box = tuple[int, int, int, int]  # top, left, bottom, right (exclusive) in window coordinates


@dataclass(frozen=True)
class Window:
    """A ``size`` x ``size`` window at (``top``, ``left``) of an image (it may reach past a
    small image's bottom/right edge: the caller pads) and the tile it scores, in window
    coordinates."""

    top: int
    left: int
    box: Box


def tile_windows(height: int, width: int, tile: int, margin: int) -> list[Window]:
    """Windows of ``tile + 2 margin`` pixels whose tiles partition a ``height`` x ``width``
    image: each tile gets up to ``margin`` pixels of real context on every side (windows are
    shifted to stay inside the image, so tiles at its edges sit off-centre)."""
    if tile < 1 or margin < 0:
        raise ConfigError(f'tile must be >= 1 and margin >= 0, got {tile}, {margin}')
    size = tile + 2 * margin
    windows = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            w_top = min(max(top - margin, 0), max(height - size, 0))
            w_left = min(max(left - margin, 0), max(width - size, 0))
            box = (top - w_top, left - w_left, min(top + tile, height) - w_top,
                   min(left + tile, width) - w_left)
            windows.append(Window(w_top, w_left, box))
    return windows


@dataclass
class _Sums:
    qabf_num: float = 0.0
    qabf_den: float = 0.0
    sf_rows: float = 0.0  # sum of squared row differences (grey / 255), and their count
    sf_rows_n: int = 0
    sf_cols: float = 0.0
    sf_cols_n: int = 0
    pixels: list[np.ndarray] = field(default_factory=list)
    # sums over the tiles' pixels for the source correlations: n, and per (source, fused)
    # pair sum x, sum y, sum x^2, sum y^2, sum x y
    corr: dict[str, np.ndarray] = field(default_factory=dict)


class PooledScore:
    """Accumulates windows of several images, keyed by image; :meth:`result` gives each
    metric's mean over the images, as ``fusion-ros eval`` averages per-image scores.

    Args:
        metrics: a subset of :data:`POOLED_METRICS`.
        convention: ``tang`` or ``standard`` (SD's rounding; see ``fusion_metrics``).

    Example:
        >>> import numpy as np
        >>> a = np.random.default_rng(0).integers(0, 255, (40, 40), np.uint8)
        >>> score = PooledScore()
        >>> score.add('img', a, a, a, (4, 4, 36, 36))
        >>> sorted(score.result())
        ['EN', 'Qabf', 'SD', 'SF']
    """

    def __init__(self, metrics: Iterable[str] = POOLED_METRICS, convention: str = 'tang'
                 ) -> None:
        self.metrics = tuple(metrics)
        poolable = (*POOLED_METRICS, *SOURCE_CORRELATIONS)
        unknown = sorted(set(self.metrics) - set(poolable))
        if unknown:
            raise ConfigError(f'cannot pool {unknown} over windows; poolable: {poolable}')
        if convention not in CONVENTIONS:
            raise ConfigError(f'unknown convention {convention!r}; use one of {CONVENTIONS}')
        self.convention = convention
        self._images: dict[object, _Sums] = {}

    def __len__(self) -> int:
        return len(self._images)

    def add(self, key: object, a: np.ndarray, b: np.ndarray, f: np.ndarray, box: Box) -> None:
        """One window: sources ``a``, ``b`` and fused ``f`` as uint8 grey ``(H, W)``, and the
        tile inside it whose pixels count (the rest is context)."""
        if not a.shape == b.shape == f.shape or a.ndim != 2:
            raise ShapeError(f'windows must be grey and equal: {a.shape}, {b.shape}, {f.shape}')
        top, left, bottom, right = box
        if not (0 <= top < bottom <= a.shape[0] and 0 <= left < right <= a.shape[1]):
            raise ShapeError(f'tile {box} is not inside the {a.shape[1]}x{a.shape[0]} window')
        sums = self._images.setdefault(key, _Sums())
        tile = np.s_[top:bottom, left:right]
        if 'Qabf' in self.metrics:
            q_af, q_bf, g_a, g_b = edge_preservation_maps(a, b, f)
            sums.qabf_num += float((q_af * g_a + q_bf * g_b)[tile].sum())
            sums.qabf_den += float((g_a + g_b)[tile].sum())
        if 'SF' in self.metrics:
            ff = f.astype(np.float64) / 255.0
            # differences between each tile pixel and its lower / right neighbour inside the
            # tile: the pairs a full-image np.diff sees, but those across tile seams
            rows = np.diff(ff[top:bottom, left:right], axis=0)
            cols = np.diff(ff[top:bottom, left:right], axis=1)
            sums.sf_rows += float((rows * rows).sum())
            sums.sf_rows_n += rows.size
            sums.sf_cols += float((cols * cols).sum())
            sums.sf_cols_n += cols.size
        if 'EN' in self.metrics or 'SD' in self.metrics:
            sums.pixels.append(np.ascontiguousarray(f[tile]).ravel())
        for name, source in zip(SOURCE_CORRELATIONS, (a, b)):
            if name in self.metrics:
                x, ff = (v[tile].astype(np.float64).ravel() for v in (source, f))
                moments = np.array([x.size, x.sum(), ff.sum(), x @ x, ff @ ff, x @ ff])
                sums.corr[name] = sums.corr.get(name, 0.0) + moments

    def image_scores(self) -> dict[object, dict[str, float]]:
        """Each image's pooled scores."""
        return {key: self._score(sums) for key, sums in self._images.items()}

    def result(self) -> dict[str, float]:
        """Mean of each metric over the images (NaN-free: an image without edges has no
        Qabf and is left out of that mean)."""
        per_image = list(self.image_scores().values())
        out = {}
        for name in self.metrics:
            values = [s[name] for s in per_image if np.isfinite(s[name])]
            if values:
                out[name] = float(np.mean(values))
        return out

    def _score(self, sums: _Sums) -> dict[str, float]:
        scores: dict[str, float] = {}
        if sums.pixels:
            flat = np.concatenate(sums.pixels)[None]
            if 'EN' in self.metrics:
                scores['EN'] = entropy(flat, flat, flat, self.convention)
            if 'SD' in self.metrics:
                scores['SD'] = standard_deviation(flat, flat, flat, self.convention)
        if 'SF' in self.metrics:
            rf = sums.sf_rows / sums.sf_rows_n if sums.sf_rows_n else 0.0
            cf = sums.sf_cols / sums.sf_cols_n if sums.sf_cols_n else 0.0
            scores['SF'] = float(np.sqrt(rf + cf))
        if 'Qabf' in self.metrics:
            scores['Qabf'] = sums.qabf_num / sums.qabf_den if sums.qabf_den > 0 else float('nan')
        for name, (n, sx, sy, sxx, syy, sxy) in sums.corr.items():
            spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
            # a flat source or fused image correlates with nothing: NaN, left out of the mean
            scores[name] = float((n * sxy - sx * sy) / np.sqrt(spread)) if spread > 0 \
                else float('nan')
        return scores

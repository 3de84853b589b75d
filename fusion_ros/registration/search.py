# SPDX-License-Identifier: Apache-2.0
"""The two steps of the estimate: a global search of scale, rotation and shift at the
coarsest level (correlation maps of all frames summed, so no single frame decides), and
joint Gauss-Newton refinement of a transform family, ECC-like (a gain and offset per
frame) with Huber weights."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fusion_ros.registration.features import _agreement, _Level
from fusion_ros.registration.geometry import _BASES, _similarity

__all__ = ['SEARCH_ROTATIONS_DEG', 'SEARCH_SCALES', 'SEARCH_SHIFT', 'SEARCH_WIDTH']

SEARCH_SCALES = np.linspace(0.80, 1.20, 11)   # thermal field of view relative to RGB
SEARCH_ROTATIONS_DEG = (-4.0, -2.0, 0.0, 2.0, 4.0)
SEARCH_SHIFT = 0.15          # +-15 % of the RGB width (96 px at 640)
SEARCH_WIDTH = 160           # RGB width of the global search


def _global_search(levels: Sequence[_Level], keep: int = 11) -> list[tuple[float, np.ndarray]]:
    """The best similarity of each scale of the grid (its best rotation and shift, scored
    by the correlation maps of all frames summed); the ``keep`` best scales, best first.
    One per scale: the correlation peaks of neighbouring rotations are near-duplicates,
    while the true scale can rank only fifth at this coarse size."""
    found: list[tuple[float, np.ndarray]] = []
    lv0 = levels[0]
    r = int(round(SEARCH_SHIFT * lv0.w))
    r = min(r, lv0.w // 3, lv0.h // 3)
    s = lv0.w / 2.0
    for scale in SEARCH_SCALES:
        best: tuple[float, np.ndarray] | None = None
        for angle in SEARCH_ROTATIONS_DEG:
            g = _similarity(scale, angle)
            total = None
            for lv in levels:
                warped, valid, _ = lv.warp(g, channels=1)
                warped = warped[:, 0].reshape(lv.h, lv.w)
                tmpl = warped[r:lv.h - r, r:lv.w - r]
                if not valid.reshape(lv.h, lv.w)[r:lv.h - r, r:lv.w - r].mean() > 0.5 \
                        or tmpl.std() < 1e-6:
                    continue
                ncc = cv2.matchTemplate(lv.rgb, tmpl, cv2.TM_CCOEFF_NORMED)
                total = ncc if total is None else total + ncc
            if total is None:
                continue
            _, peak, _, loc = cv2.minMaxLoc(total / len(levels))
            dx, dy = loc[0] - r, loc[1] - r     # warped thermal sits (dx, dy) off
            # a thermal edge at x shows at x + d in RGB: sample thermal at G(x - d)
            if best is None or peak > best[0]:
                best = (float(peak),
                        g @ np.array([[1, 0, -dx / s], [0, 1, -dy / s], [0, 0, 1.0]]))
        if best is not None:
            found.append(best)
    found.sort(key=lambda item: -item[0])
    return found[:keep]


def _gauss_newton(levels: Sequence[_Level], g: np.ndarray, model: str, iterations: int,
                  tol: float = 1e-4) -> np.ndarray:
    """Joint refinement of ``g`` over ``levels`` (ECC-like: a gain and offset per frame,
    Huber-weighted residuals)."""
    bases = _BASES[model]
    k = len(bases)
    for _ in range(iterations):
        hess = np.zeros((k, k))
        grad = np.zeros(k)
        for lv in levels:
            warped, valid, (up, vp, z) = lv.warp(g)
            if valid.sum() < 64:
                continue
            t, tgx, tgy = warped[valid, 0], warped[valid, 1], warped[valid, 2]
            ref = lv.rgb.ravel()[valid]
            u, v = lv.u[valid], lv.v[valid]
            upv, vpv, zv = up[valid], vp[valid], z[valid]
            # per-frame gain/offset (the ECC correlation's closed form)
            tc = t - t.mean()
            var = float((tc * tc).mean())
            if var < 1e-10:
                continue
            a = float((tc * (ref - ref.mean())).mean()) / var
            if a <= 0:
                a = 1e-3
            res = a * tc - (ref - ref.mean())
            sigma = 1.4826 * float(np.median(np.abs(res))) + 1e-6
            rw = np.abs(res) / (1.345 * sigma)
            wts = np.where(rw <= 1.0, 1.0, 1.0 / np.maximum(rw, 1e-9))
            cols = []
            for b in bases:
                bx = b[0, 0] * u + b[0, 1] * v + b[0, 2]
                by = b[1, 0] * u + b[1, 1] * v + b[1, 2]
                bz = b[2, 0] * u + b[2, 1] * v + b[2, 2]
                dup = (bx - upv * bz) / zv
                dvp = (by - vpv * bz) / zv
                cols.append(a * (tgx * dup + tgy * dvp))
            jac = np.stack(cols, axis=1)
            jac -= jac.mean(axis=0)      # the offset absorbs the mean
            jw = jac * wts[:, None]
            hess += jw.T @ jac / len(res)
            grad += jw.T @ res / len(res)
        if not np.any(hess):
            break
        damp = 1e-6 * np.trace(hess) / k
        step = -np.linalg.solve(hess + damp * np.eye(k), grad)
        # Gauss-Newton overshoots far from the answer: halve the step until the edges
        # agree better (the frames' mean correlation), else stop at this level
        before = np.mean([_agreement(lv, g) for lv in levels])
        for _ in range(5):
            trial = g + sum(s * b for s, b in zip(step, bases))
            trial = trial / trial[2, 2]
            if np.mean([_agreement(lv, trial) for lv in levels]) >= before:
                break
            step = step / 2
        else:
            break
        g = trial
        if np.max(np.abs(step)) < tol:
            break
    return g

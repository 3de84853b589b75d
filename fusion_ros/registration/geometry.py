# SPDX-License-Identifier: Apache-2.0
"""Thermal-to-RGB transforms in the coordinates the estimator works in: each camera's
pixels normalised (centre 0, half-width 1), so one parameter set describes every pyramid
level and a thermal camera of another resolution; the transform families and their
parameter bases; conversion to and from full-resolution pixel homographies."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ['MODELS', 'corner_error', 'resize_homography']

MODELS = ('translation', 'similarity', 'affine', 'homography')

# the change each parameter makes to G (RGB-normalised -> thermal-normalised coordinates)
_E = np.eye(3)


def _unit(i: int, j: int) -> np.ndarray:
    m = np.zeros((3, 3))
    m[i, j] = 1.0
    return m


_BASES: dict[str, list[np.ndarray]] = {
    'translation': [_unit(0, 2), _unit(1, 2)],
    'similarity': [_unit(0, 0) + _unit(1, 1), _unit(1, 0) - _unit(0, 1),
                   _unit(0, 2), _unit(1, 2)],
    'affine': [_unit(i, j) for i in range(2) for j in range(3)],
    'homography': [_unit(i, j) for i in range(3) for j in range(3) if (i, j) != (2, 2)],
}


def _normaliser(width: float, height: float) -> np.ndarray:
    """Pixel -> normalised coordinates (centre 0, half-width 1; pixel centres at +0.5)."""
    s = width / 2.0
    return np.array([[1 / s, 0, (0.5 - width / 2) / s],
                     [0, 1 / s, (0.5 - height / 2) / s],
                     [0, 0, 1.0]])


def _g_from_homography(h: np.ndarray, t_size: tuple[int, int],
                       v_size: tuple[int, int]) -> np.ndarray:
    g = _normaliser(*t_size) @ np.linalg.inv(h) @ np.linalg.inv(_normaliser(*v_size))
    return g / g[2, 2]


def _homography_from_g(g: np.ndarray, t_size: tuple[int, int],
                       v_size: tuple[int, int]) -> np.ndarray:
    h = np.linalg.inv(_normaliser(*v_size)) @ np.linalg.inv(g) @ _normaliser(*t_size)
    return h / h[2, 2]


def resize_homography(t_size: tuple[int, int], v_size: tuple[int, int]) -> np.ndarray:
    """The thermal-to-RGB map that only stretches one image onto the other (same field of
    view, centred): the starting point "before" registration."""
    return _homography_from_g(np.eye(3), t_size, v_size)


def _similarity(scale: float, angle_deg: float, tx: float = 0.0, ty: float = 0.0
                ) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1.0]])


def _project(g: np.ndarray, model: str) -> np.ndarray:
    """The closest member of ``model`` to ``g`` (used to start a restricted model)."""
    g = g / g[2, 2]
    if model == 'homography':
        return g.copy()
    out = np.eye(3)
    out[:2, 2] = g[:2, 2]
    if model == 'affine':
        out[:2, :2] = g[:2, :2]
    elif model == 'similarity':
        a = (g[0, 0] + g[1, 1]) / 2
        b = (g[1, 0] - g[0, 1]) / 2
        out[:2, :2] = [[a, -b], [b, a]]
    return out


def corner_error(h_est: np.ndarray, h_true: np.ndarray, size: tuple[int, int]) -> float:
    """Mean distance in RGB pixels between where the two homographies put the four corners
    of a thermal image of ``size`` = (width, height)."""
    w, h = size
    pts = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    a = cv2.perspectiveTransform(pts[None], h_est)[0]
    b = cv2.perspectiveTransform(pts[None], h_true)[0]
    return float(np.linalg.norm(a - b, axis=1).mean())

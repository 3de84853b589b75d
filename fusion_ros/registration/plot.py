# SPDX-License-Identifier: Apache-2.0
"""Pictures that show whether thermal and RGB line up: a checkerboard of the two images
(edges must run straight across the squares) and an edge overlay (RGB edges green, thermal
edges magenta, white where they coincide), before and after registration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from fusion_ros.registration import grey_unit, warp_thermal

__all__ = ['checkerboard', 'edge_overlay', 'registration_sheet']


def _u8(grey: np.ndarray) -> np.ndarray:
    return (np.clip(grey, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def checkerboard(thermal: np.ndarray, rgb: np.ndarray, squares: int = 8) -> np.ndarray:
    """RGB image: squares alternate between ``rgb`` and the (same-size) grey ``thermal``."""
    h, w = rgb.shape[:2]
    side = max(8, w // squares)
    ys, xs = np.mgrid[0:h, 0:w]
    mask = ((xs // side + ys // side) % 2 == 0)[..., None]
    colour = rgb if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, 2)
    heat = cv2.applyColorMap(thermal, cv2.COLORMAP_INFERNO)[..., ::-1]
    return np.where(mask, colour, heat).astype(np.uint8)


def _edges(grey_u8: np.ndarray) -> np.ndarray:
    return cv2.Canny(cv2.GaussianBlur(grey_u8, (0, 0), 1.5), 40, 100) > 0


def edge_overlay(thermal: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """RGB image on black: RGB edges green, thermal edges magenta, both white."""
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    ev, et = _edges(grey), _edges(thermal)
    out = np.zeros((*grey.shape, 3), np.uint8)
    out[ev] = (0, 220, 0)
    out[et] = (220, 0, 220)
    out[ev & et] = (255, 255, 255)
    return out


def registration_sheet(path: Path, frames: Sequence[tuple[np.ndarray, np.ndarray]],
                       before: np.ndarray, after: np.ndarray, title: str = '') -> Path:
    """One row per frame: checkerboard and edge overlay with the ``before`` homography,
    then with ``after`` (both thermal-to-RGB). Written as PNG (atomically)."""
    from fusion_ros.io.image_files import write_image

    rows = []
    for thermal, rgb in frames:
        h, w = rgb.shape[:2]
        rgb8 = rgb if rgb.dtype == np.uint8 else _u8(grey_unit(rgb))
        t8 = _u8(grey_unit(thermal))
        tiles = []
        for homography in (before, after):
            warped = warp_thermal(t8, homography, (w, h))
            tiles += [checkerboard(warped, rgb8), edge_overlay(warped, rgb8)]
        scale = min(1.0, 480.0 / w)
        tiles = [cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                 for t in tiles]
        rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                               for t in tiles]))
    sheet = np.vstack(rows)
    band = np.full((36, sheet.shape[1], 3), 255, np.uint8)
    labels = ['before: checkerboard', 'before: edges', 'after: checkerboard', 'after: edges']
    tile_w = sheet.shape[1] // 4
    for k, label in enumerate(labels):
        cv2.putText(band, label, (k * tile_w + 8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        top = np.full((32, sheet.shape[1], 3), 255, np.uint8)
        cv2.putText(top, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                    cv2.LINE_AA)
        band = np.vstack([top, band])
    write_image(path, np.vstack([band, sheet]))
    return Path(path)

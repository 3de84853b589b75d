# SPDX-License-Identifier: Apache-2.0
"""Thermal-to-RGB registration by a fixed 3x3 homography (rigs calibrated once)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fusion_ros.errors import ConfigError

__all__ = ['IDENTITY', 'parse_homography', 'warp_thermal']

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def parse_homography(values: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """9 numbers (row-major) or a 3x3 array -> a normalised 3x3 matrix; None for identity.

    Raises:
        ConfigError: not 9 finite numbers, or a singular matrix.
    """
    if values is None:
        return None
    h = np.asarray(values, dtype=np.float64)
    if h.size != 9 or not np.all(np.isfinite(h)):
        raise ConfigError(f'registration.homography needs 9 finite numbers (row-major 3x3), '
                          f'got {np.asarray(values).tolist()!r}')
    h = h.reshape(3, 3)
    if abs(np.linalg.det(h)) < 1e-12 or h[2, 2] == 0:
        raise ConfigError(f'registration.homography is singular: {h.tolist()!r}')
    h = h / h[2, 2]
    return None if np.allclose(h, np.eye(3), atol=1e-12) else h


def warp_thermal(thermal: np.ndarray, homography: np.ndarray,
                 size: tuple[int, int]) -> np.ndarray:
    """Warp ``thermal`` into the RGB camera's pixel grid of ``size`` = (width, height).

    ``homography`` maps thermal pixel coordinates to RGB ones. Bilinear, borders replicated
    (a black border would read as a cold object). Any dtype OpenCV warps (uint8/16, float).
    """
    return cv2.warpPerspective(thermal, homography, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)

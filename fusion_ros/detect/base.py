# SPDX-License-Identifier: Apache-2.0
"""What every detector backend returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ['Detection', 'Detector']


@dataclass(frozen=True)
class Detection:
    """One box in pixels of the image the detector saw.

    Attributes:
        label: class name (``person``, ``car``, ...).
        score: confidence in [0, 1].
        x0, y0, x1, y1: corners, ``x1 > x0``, ``y1 > y0``.
    """

    label: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def center_size(self) -> tuple[float, float, float, float]:
        """(cx, cy, w, h), as vision_msgs' BoundingBox2D."""
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2, self.x1 - self.x0,
                self.y1 - self.y0)


class Detector(Protocol):
    """``detect(image)`` with ``image`` RGB :math:`(H, W, 3)` or grey :math:`(H, W)` uint8."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...

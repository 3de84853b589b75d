# SPDX-License-Identifier: Apache-2.0
"""Boxes and scores drawn on an image: the debug view rviz users look at."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fusion_ros.detect.base import Detection

__all__ = ['draw_detections']


def _colour(label: str) -> tuple[int, int, int]:
    # a stable, saturated colour per class name
    hue = (sum(label.encode()) * 37) % 180
    hsv = np.uint8([[[hue, 220, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def draw_detections(image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """RGB copy of ``image`` (grey is expanded) with each box, label and score drawn."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    thick = max(1, round(min(out.shape[:2]) / 300))
    for d in detections:
        colour = _colour(d.label)
        p0, p1 = (int(round(d.x0)), int(round(d.y0))), (int(round(d.x1)), int(round(d.y1)))
        cv2.rectangle(out, p0, p1, colour, thick)
        text = f'{d.label} {d.score:.2f}'
        scale = 0.4 * thick
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        y = max(p0[1], th + base)
        cv2.rectangle(out, (p0[0], y - th - base), (p0[0] + tw, y), colour, -1)
        cv2.putText(out, text, (p0[0], y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out

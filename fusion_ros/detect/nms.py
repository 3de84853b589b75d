# SPDX-License-Identifier: Apache-2.0
"""Greedy non-maximum suppression, vectorised NumPy (per class via coordinate offsets)."""

from __future__ import annotations

import numpy as np

__all__ = ['box_iou', 'nms']


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy -> (N, M)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
        classes: np.ndarray | None = None, max_det: int = 300) -> np.ndarray:
    """Indices of the boxes kept, best score first.

    A box is dropped when it overlaps a better-scored kept box of the same class by more
    than ``iou_threshold``. Boxes of different classes never suppress each other.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if boxes.shape[0] == 0:
        return np.zeros(0, np.int64)
    if classes is not None:  # shift each class far apart so they never overlap
        offset = (np.asarray(classes, np.float64) * (boxes.max() + 1.0))[:, None]
        boxes = boxes + offset
    order = np.argsort(-scores, kind='stable')
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = order[0]
        keep.append(int(i))
        if order.size == 1:
            break
        ious = box_iou(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, np.int64)

# SPDX-License-Identifier: Apache-2.0
"""Detection metrics: precision, recall, AP at an IoU threshold and mAP@0.5:0.95.

AP is the area under the all-point interpolated precision-recall curve (PASCAL VOC 2010+,
also what COCO's 101-point sampling approximates). A detection matches the unmatched ground
truth box of its class with the highest IoU, if that IoU reaches the threshold; detections
are taken in falling score order over the whole set, as in both toolkits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from fusion_ros.detect.base import Detection
from fusion_ros.detect.nms import box_iou
from fusion_ros.errors import ConfigError

__all__ = ['DetectionScores', 'GroundTruth', 'average_precision', 'evaluate_detections',
           'read_voc_xml']

IOU_RANGE = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


@dataclass(frozen=True)
class GroundTruth:
    """A labelled box (xyxy pixels)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class DetectionScores:
    """Scores of one detector on one image set."""

    precision: float
    recall: float
    ap50: float
    ap50_95: float
    detections: int
    ground_truth: int

    def as_dict(self) -> dict[str, float | int]:
        return {'precision': self.precision, 'recall': self.recall, 'mAP@0.5': self.ap50,
                'mAP@0.5:0.95': self.ap50_95, 'detections': self.detections,
                'ground_truth': self.ground_truth}


def read_voc_xml(path: Path | str) -> list[GroundTruth]:
    """Boxes of a PASCAL VOC annotation file (LLVIP ships these)."""
    try:
        root = ElementTree.parse(str(path)).getroot()
    except (OSError, ElementTree.ParseError) as err:
        raise ConfigError(f'cannot read VOC annotation {str(path)!r}: {err}') from err
    boxes = []
    for obj in root.iter('object'):
        box = obj.find('bndbox')
        if box is None:
            continue
        try:
            coords = [float(box.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        except (TypeError, ValueError) as err:
            raise ConfigError(f'{path}: bad bndbox in an object: {err}') from err
        boxes.append(GroundTruth((obj.findtext('name') or '').strip(), *coords))
    return boxes


def _match(dets: Sequence[Detection], gts: Sequence[GroundTruth], iou: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, true-positive flags) of ``dets`` against ``gts`` of one image and class."""
    scores = np.array([d.score for d in dets], np.float64)
    tp = np.zeros(len(dets), bool)
    if not dets or not gts:
        return scores, tp
    order = np.argsort(-scores, kind='stable')
    ious = box_iou([dets[i].xyxy for i in order], [(g.x0, g.y0, g.x1, g.y1) for g in gts])
    taken = np.zeros(len(gts), bool)
    for row, i in enumerate(order):
        candidates = np.where(taken, -1.0, ious[row])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou:
            taken[j] = True
            tp[i] = True
    return scores, tp


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """All-point interpolated AP from pooled detection scores and match flags."""
    if num_gt == 0:
        return float('nan')
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind='stable')
    hits = tp[order].astype(np.float64)
    tps, fps = np.cumsum(hits), np.cumsum(1.0 - hits)
    recall = tps / num_gt
    precision = tps / np.maximum(tps + fps, 1e-12)
    # precision envelope, then the area under the step curve
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def evaluate_detections(predictions: Sequence[Sequence[Detection]],
                        truths: Sequence[Sequence[GroundTruth]],
                        classes: Iterable[str]) -> DetectionScores:
    """Precision and recall (IoU 0.5, every kept detection) and mAP over ``classes``.

    ``predictions[i]`` and ``truths[i]`` belong to the same image.
    """
    if len(predictions) != len(truths):
        raise ConfigError(f'{len(predictions)} prediction lists for {len(truths)} images')
    classes = list(classes)
    aps = {t: [] for t in IOU_RANGE}
    tp50 = n_det = n_gt = 0
    for label in classes:
        per_image = [([d for d in p if d.label == label], [g for g in t if g.label == label])
                     for p, t in zip(predictions, truths)]
        num_gt = sum(len(g) for _, g in per_image)
        n_gt += num_gt
        n_det += sum(len(d) for d, _ in per_image)
        for thr in IOU_RANGE:
            matched = [_match(d, g, thr) for d, g in per_image]
            scores = np.concatenate([m[0] for m in matched]) if matched else np.zeros(0)
            tp = np.concatenate([m[1] for m in matched]) if matched else np.zeros(0, bool)
            if thr == 0.5:
                tp50 += int(tp.sum())
            ap = average_precision(scores, tp, num_gt)
            if not np.isnan(ap):
                aps[thr].append(ap)
    ap50 = float(np.mean(aps[0.5])) if aps[0.5] else 0.0
    ap_all = [np.mean(v) for v in aps.values() if v]
    return DetectionScores(
        precision=tp50 / n_det if n_det else 0.0,
        recall=tp50 / n_gt if n_gt else 0.0,
        ap50=ap50,
        ap50_95=float(np.mean(ap_all)) if ap_all else 0.0,
        detections=n_det,
        ground_truth=n_gt,
    )

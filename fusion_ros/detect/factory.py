# SPDX-License-Identifier: Apache-2.0
"""Detector backends by name, for the detector node, ``eval-detection`` and ``bag fuse``."""

from __future__ import annotations

from collections.abc import Sequence

from fusion_ros.detect.base import Detector
from fusion_ros.errors import ConfigError

__all__ = ['DETECTOR_BACKENDS', 'build_detector']

DETECTOR_BACKENDS = ('hog', 'onnx')


def build_detector(backend: str = 'hog', *, model_path: str = '', score_threshold: float = 0.5,
                   iou_threshold: float = 0.45, classes: Sequence[int] | None = None,
                   names: Sequence[str] | None = None, device: str = 'cpu',
                   layout: str = 'auto', upscale: float = 1.0,
                   threads: int | None = None) -> Detector:
    """Build a backend: ``hog`` (OpenCV people detector) or ``onnx`` (YOLOv5/v8 export).
    ``threads``: ONNX Runtime's intra-op threads (None: its default; HOG runs in OpenCV's
    pool, which ``fusion_ros.threads.apply_threads`` sizes)."""
    if backend == 'hog':
        from fusion_ros.detect.hog import HogPeopleDetector

        return HogPeopleDetector(score_threshold, iou_threshold, upscale=upscale)
    if backend == 'onnx':
        from fusion_ros.detect.onnx_yolo import OnnxYoloDetector

        if not model_path:
            raise ConfigError('backend onnx needs a model path (an .onnx YOLOv5/YOLOv8 export)')
        return OnnxYoloDetector(model_path, layout=layout, score_threshold=score_threshold,
                                iou_threshold=iou_threshold, classes=classes, names=names,
                                device=device, threads=threads)
    raise ConfigError(f'unknown detector backend {backend!r}; use one of {DETECTOR_BACKENDS}')

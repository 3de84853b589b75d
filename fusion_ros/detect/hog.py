# SPDX-License-Identifier: Apache-2.0
"""OpenCV's built-in HOG + linear SVM people detector (Dalal & Triggs): no download, CPU.

Its window is 64x128 pixels, so people shorter than about 100 pixels are missed unless the
image is upscaled (``upscale``). SVM margins become scores through a logistic, so margin 0
scores 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np

from fusion_ros.detect.base import Detection
from fusion_ros.detect.nms import nms
from fusion_ros.errors import ConfigError

__all__ = ['HogPeopleDetector']


class HogPeopleDetector:
    """People detector; ``detect`` returns boxes labelled ``person``.

    Args:
        score_threshold: lowest score kept (0.5 is SVM margin 0).
        iou_threshold: NMS overlap above which the weaker box goes.
        upscale: resize factor before detection (2 finds people half as tall).
        win_stride: step of the sliding window in pixels.
        scale: pyramid step of detectMultiScale.
    """

    name = 'hog'

    def __init__(self, score_threshold: float = 0.5, iou_threshold: float = 0.45,
                 upscale: float = 1.0, win_stride: int = 8, scale: float = 1.05) -> None:
        if not hasattr(cv2, 'HOGDescriptor'):
            raise ConfigError('this OpenCV has no HOGDescriptor (removed in OpenCV 5); '
                              'install opencv-python-headless==4.14.0.94 or use backend onnx')
        if not upscale > 0 or not scale > 1.0 or win_stride < 1:
            raise ConfigError(f'bad HOG settings: upscale {upscale}, scale {scale}, '
                              f'win_stride {win_stride}')
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.upscale, self.win_stride, self.scale = upscale, win_stride, scale

    def detect(self, image: np.ndarray) -> list[Detection]:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if self.upscale != 1.0:
            grey = cv2.resize(grey, None, fx=self.upscale, fy=self.upscale,
                              interpolation=cv2.INTER_LINEAR)
        if grey.shape[0] < 128 or grey.shape[1] < 64:
            return []  # smaller than one detection window
        stride = (self.win_stride, self.win_stride)
        rects, weights = self.hog.detectMultiScale(grey, winStride=stride, padding=(8, 8),
                                                   scale=self.scale)
        if len(rects) == 0:
            return []
        rects = np.asarray(rects, np.float64).reshape(-1, 4) / self.upscale
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float64).reshape(-1)))
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        ok = scores >= self.score_threshold
        boxes, scores = boxes[ok], scores[ok]
        return [Detection('person', float(scores[i]), *map(float, boxes[i]))
                for i in nms(boxes, scores, self.iou_threshold)]

# SPDX-License-Identifier: Apache-2.0
"""YOLO detectors exported to ONNX (Ultralytics YOLOv5 and YOLOv8 output layouts), run with
onnxruntime; letterboxing, decoding and NMS are ours.

Output layouts of a single output tensor, batch 1:
- ``yolov5``: (1, N, 5 + C) rows of cx, cy, w, h, objectness, C class scores;
  score = objectness x class score.
- ``yolov8``: (1, 4 + C, N) columns of cx, cy, w, h, C class scores; score = class score.
Coordinates are pixels of the letterboxed network input. ``auto`` takes the layout whose
box axis is the longer one (N is thousands, 5 + C is tens).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from fusion_ros.detect.base import Detection
from fusion_ros.detect.nms import nms
from fusion_ros.errors import ConfigError

__all__ = ['COCO_NAMES', 'OnnxYoloDetector', 'decode_yolo', 'letterbox']

COCO_NAMES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat',
    'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack',
    'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball',
    'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket',
    'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair',
    'couch', 'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse',
    'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier',
    'toothbrush',
)
LAYOUTS = ('auto', 'yolov5', 'yolov8')


def letterbox(image: np.ndarray, size: tuple[int, int], pad_value: int = 114
              ) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to ``size`` = (width, height), centred.

    Returns the image, the scale and the (x, y) padding, so that
    ``original = (letterboxed - pad) / scale``.
    """
    h, w = image.shape[:2]
    out_w, out_h = size
    scale = min(out_w / w, out_h / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (out_w - new_w) / 2, (out_h - new_h) / 2
    top, left = int(round(pad_y - 0.1)), int(round(pad_x - 0.1))
    out = cv2.copyMakeBorder(resized, top, out_h - new_h - top, left, out_w - new_w - left,
                             cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    return out, scale, (float(left), float(top))


def decode_yolo(output: np.ndarray, layout: str, score_threshold: float,
                iou_threshold: float, classes: Sequence[int] | None = None,
                max_det: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw YOLO output -> (boxes xyxy (K, 4), scores (K,), class ids (K,)) after NMS."""
    out = np.asarray(output, np.float32)
    if out.ndim == 3:
        if out.shape[0] != 1:
            raise ConfigError(f'expected batch 1 YOLO output, got shape {out.shape}')
        out = out[0]
    if out.ndim != 2:
        raise ConfigError(f'YOLO output must be (1, N, 5+C) or (1, 4+C, N), got {out.shape}')
    if layout == 'auto':
        layout = 'yolov8' if out.shape[0] < out.shape[1] else 'yolov5'
    if layout == 'yolov8':
        rows = out.T
        if rows.shape[1] < 5:
            raise ConfigError(f'yolov8 output needs 4 + C >= 5 rows, got {out.shape}')
        class_scores = rows[:, 4:]
    elif layout == 'yolov5':
        rows = out
        if rows.shape[1] < 6:
            raise ConfigError(f'yolov5 output needs 5 + C >= 6 columns, got {out.shape}')
        class_scores = rows[:, 5:] * rows[:, 4:5]
    else:
        raise ConfigError(f'unknown YOLO layout {layout!r}; use one of {LAYOUTS}')
    ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(ids)), ids]
    keep = scores >= score_threshold
    if classes is not None:
        keep &= np.isin(ids, np.asarray(list(classes)))
    cxcywh, scores, ids = rows[keep, :4].astype(np.float64), scores[keep], ids[keep]
    boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2,
                            cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
    kept = nms(boxes, scores, iou_threshold, ids, max_det)
    return boxes[kept], scores[kept].astype(np.float64), ids[kept]


class OnnxYoloDetector:
    """Run a YOLOv5/YOLOv8 ONNX export.

    Args:
        model_path: the ``.onnx`` file.
        layout: ``auto``, ``yolov5`` or ``yolov8``.
        score_threshold, iou_threshold: decoding thresholds.
        classes: class ids to keep (None: all).
        names: class names (default: COCO's 80 when the model has 80 classes, else
            ``class_<id>``).
        device: ``cpu`` or ``cuda`` (needs onnxruntime-gpu).
        input_size: (width, height) for models with a dynamic input (default 640x640).
        threads: ONNX Runtime's intra-op threads (None: its default, one per core).
    """

    name = 'onnx'

    def __init__(self, model_path: Path | str, *, layout: str = 'auto',
                 score_threshold: float = 0.25, iou_threshold: float = 0.45,
                 classes: Sequence[int] | None = None, names: Sequence[str] | None = None,
                 device: str = 'cpu', input_size: tuple[int, int] = (640, 640),
                 threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ConfigError('backend onnx needs onnxruntime: pip install onnxruntime') from err
        if layout not in LAYOUTS:
            raise ConfigError(f'unknown YOLO layout {layout!r}; use one of {LAYOUTS}')
        path = Path(model_path)
        if not path.is_file():
            raise ConfigError(f'ONNX model {str(path)!r} does not exist')
        providers = ['CPUExecutionProvider']
        if device.startswith('cuda'):
            if 'CUDAExecutionProvider' not in ort.get_available_providers():
                raise ConfigError('device cuda needs onnxruntime-gpu (CUDAExecutionProvider '
                                  'is not available)')
            providers.insert(0, 'CUDAExecutionProvider')
        try:
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ConfigError(f'cannot load ONNX model {str(path)!r}: {err}') from err
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        dims = inp.shape
        if len(dims) != 4 or dims[1] not in (3, 'channels', None):
            raise ConfigError(f'{path.name}: expected an NCHW image input, got {dims}')
        h, w = dims[2], dims[3]
        self.input_size = (w if isinstance(w, int) else input_size[0],
                           h if isinstance(h, int) else input_size[1])
        self.layout, self.classes = layout, classes
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.names = list(names) if names else None

    def _label(self, class_id: int, num_classes: int) -> str:
        if self.names is not None:
            return self.names[class_id] if class_id < len(self.names) else f'class_{class_id}'
        if num_classes == len(COCO_NAMES):
            return COCO_NAMES[class_id]
        return f'class_{class_id}'

    def detect(self, image: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image
        boxed, scale, (pad_x, pad_y) = letterbox(rgb, self.input_size)
        blob = np.ascontiguousarray(boxed.transpose(2, 0, 1)[None], np.float32) / 255.0
        output = self.session.run(None, {self.input_name: blob})[0]
        boxes, scores, ids = decode_yolo(output, self.layout, self.score_threshold,
                                         self.iou_threshold, self.classes)
        num_classes = (output.shape[-1] - 5 if self._is_v5(output) else output.shape[1] - 4)
        h, w = image.shape[:2]
        boxes = (boxes - [pad_x, pad_y, pad_x, pad_y]) / scale
        boxes = np.clip(boxes, 0, [w, h, w, h])
        return [Detection(self._label(int(c), num_classes), float(s), *map(float, b))
                for b, s, c in zip(boxes, scores, ids) if b[2] > b[0] and b[3] > b[1]]

    def _is_v5(self, output: np.ndarray) -> bool:
        if self.layout != 'auto':
            return self.layout == 'yolov5'
        return output.shape[-2] >= output.shape[-1]

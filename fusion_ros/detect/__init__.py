# SPDX-License-Identifier: Apache-2.0
"""2D object detection on fused (or any) images: OpenCV HOG people detector and ONNX YOLO
exports, our own decoding and NMS. No ROS, no torch."""

from fusion_ros.detect.base import Detection, Detector
from fusion_ros.detect.draw import draw_detections
from fusion_ros.detect.factory import DETECTOR_BACKENDS, build_detector
from fusion_ros.detect.nms import box_iou, nms

__all__ = ['DETECTOR_BACKENDS', 'Detection', 'Detector', 'box_iou', 'build_detector',
           'draw_detections', 'nms']

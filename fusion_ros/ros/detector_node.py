# SPDX-License-Identifier: Apache-2.0
"""Detector node: 2D detections on the fused stream.

Subscribes:
    fused/image_raw (sensor_msgs/Image): any encoding the fusion node accepts for RGB.
Publishes:
    detections (vision_msgs/Detection2DArray): when vision_msgs is installed (a full ROS 2
        install); header and frame_id of the image, boxes in its pixels.
    detections/image (sensor_msgs/Image, rgb8): the image with boxes and scores drawn, always
        (rviz has no 2D detection display).
    detections/json (std_msgs/String): the same detections as JSON, always, for tools
        and installs without vision_msgs.
    /diagnostics (1 Hz): input and output rates, drops, images lost in transport (gaps in the
        publisher's sequence numbers: a starved node's queue overflowed), errors, backend,
        inference time.

Backends (``backend``): ``hog`` (OpenCV's people detector, no download) or ``onnx`` (a
YOLOv5/YOLOv8 ONNX export at ``model_path``). Detection runs in a worker thread; at most
one image waits and a newer one replaces it (a counted drop).
"""

from __future__ import annotations

import signal as _signal

from fusion_ros.ros.quiet_start import leave_quietly_on_interrupt

if __name__ == '__main__':  # run as a child of a launch: Ctrl-C while importing
    leave_quietly_on_interrupt()

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from fusion_ros.detect import Detection, build_detector, draw_detections
from fusion_ros.detect.report import detections_json
from fusion_ros.errors import ConfigError, FusionError
from fusion_ros.io.image_msg import image_to_array, to_rgb_or_grey
from fusion_ros.io.stamps import stamp_ns
from fusion_ros.ros.node_support import (
    ReportWindow,
    ThrottledLog,
    TransportLoss,
    callback_errors_text,
    diagnostic_array,
    guarded,
    image_message,
    lost_text,
    per_second,
    run_node,
    serve_slot,
)
from fusion_ros.ros.params import ParamSpec, declare_params, read_params
from fusion_ros.ros.qos import check_reliability, make_qos
from fusion_ros.stream.slot import LatestSlot
from fusion_ros.threads import apply_threads, resolve_threads
from fusion_ros.topics import (
    DETECTIONS_IMAGE_TOPIC,
    DETECTIONS_JSON_TOPIC,
    DETECTIONS_TOPIC,
    DIAG_TOPIC,
    FUSED_TOPIC,
    relative,
)

PARAMS = (
    ParamSpec('backend', 'hog', 'hog (OpenCV people detector) or onnx (YOLOv5/YOLOv8 export).',
              read_only=True),
    ParamSpec('model_path', '', 'ONNX model file for backend onnx.', read_only=True),
    ParamSpec('layout', 'auto', 'ONNX output layout: auto, yolov5 or yolov8.', read_only=True),
    ParamSpec('score_threshold', 0.5, 'Lowest score published.', (0.0, 1.0), read_only=True),
    ParamSpec('iou_threshold', 0.45, 'NMS overlap above which the weaker box goes.',
              (0.0, 1.0), read_only=True),
    ParamSpec('classes', '', 'Comma-separated class names or ids to keep; empty: all.',
              read_only=True),
    ParamSpec('device', 'cpu', 'cpu or cuda (onnx backend with onnxruntime-gpu).',
              read_only=True),
    ParamSpec('upscale', 1.0, 'HOG: resize factor before detection (2 finds people half as '
              'tall).', (0.25, 8.0), read_only=True),
    ParamSpec('threads', 0, 'CPU threads for detection (OpenCV, ONNX Runtime); 0: auto, half '
              'the CPUs this process may use (the fusion node takes the other half).',
              (0, 1024), read_only=True),
    ParamSpec('topics.image', relative(FUSED_TOPIC), 'Input image topic.', read_only=True),
    ParamSpec('qos.input.reliability', 'reliable', 'Input subscription reliability (the fusion '
              'node publishes reliable).', read_only=True),
    ParamSpec('qos.depth', 5, 'History depth of subscription and publishers.', (1, 1000),
              read_only=True),
)


@dataclass
class DetectorStats:
    images_in: int = 0
    processed: int = 0
    detections: int = 0
    dropped: int = 0
    lost: int = 0  # images the middleware dropped before the callback saw them
    errors: int = 0
    last_input: float = 0.0
    last_ms: float = 0.0


def _vision_msgs() -> Any | None:
    try:
        import vision_msgs.msg as vm
    except ImportError:
        return None
    return vm


def _class_filter(text: str) -> tuple[set[str], set[int]]:
    names, ids = set(), set()
    for item in (t.strip() for t in text.split(',')):
        if not item:
            continue
        (ids.add(int(item)) if item.lstrip('-').isdigit() else names.add(item))
    return names, ids


class DetectorNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('detector_node', **kwargs)
        declare_params(self, PARAMS)
        p = read_params(self, PARAMS)
        names, ids = _class_filter(p['classes'])
        self.keep_names = names
        self.keep_ids = ids
        self.threads = resolve_threads(p['threads'], adaptive=False)  # 0: auto
        apply_threads(self.threads)
        self.detector = build_detector(
            p['backend'], model_path=p['model_path'], score_threshold=p['score_threshold'],
            iou_threshold=p['iou_threshold'], classes=sorted(ids) or None, device=p['device'],
            layout=p['layout'], upscale=p['upscale'], threads=self.threads.count)
        self.backend = p['backend']
        check_reliability('qos.input.reliability', p['qos.input.reliability'])
        depth = int(p['qos.depth'])
        self.vm = _vision_msgs()
        out_qos = make_qos('reliable', depth)
        self._pub_array = (self.create_publisher(self.vm.Detection2DArray,
                                                  relative(DETECTIONS_TOPIC), out_qos)
                           if self.vm is not None else None)
        if self.vm is None:
            self.get_logger().info('vision_msgs is not installed: publishing detections/image '
                                   'and detections/json only')
        self._pub_image = self.create_publisher(Image, relative(DETECTIONS_IMAGE_TOPIC), out_qos)
        self._pub_json = self.create_publisher(String, relative(DETECTIONS_JSON_TOPIC), out_qos)
        self._pub_diag = self.create_publisher(DiagnosticArray, DIAG_TOPIC, 10)
        self.stats = DetectorStats()
        self._log = ThrottledLog(self)
        self.callback_errors: Counter[str] = Counter()
        self._slot: LatestSlot[Image] = LatestSlot()
        self._lost = TransportLoss()
        self._sub = self.create_subscription(
            Image, p['topics.image'],
            self._lost.counting(self.image_cb, lambda missed: self._on_transport_loss(
                missed, depth)),
            make_qos(p['qos.input.reliability'], depth))
        self._worker = threading.Thread(target=self._work, name='detector_worker', daemon=True)
        self._worker.start()
        self._window = ReportWindow(DetectorStats)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f'detector {self.backend} on {p["topics.image"]}, '
                               f'{self.threads.describe()} CPU threads')

    @guarded('subscription')
    def image_cb(self, msg: Image) -> None:
        self.stats.images_in += 1
        self.stats.last_input = time.monotonic()
        if self._slot.put(msg):
            self.stats.dropped += 1

    @guarded('subscription')
    def _on_transport_loss(self, missed: int, depth: int) -> None:
        self.stats.lost += missed
        self._log.warn('lost', lost_text('image', missed, self.stats.lost, 'qos.depth', depth))

    def stop(self) -> None:
        self._slot.close()
        self._worker.join(timeout=2.0)

    def _work(self) -> None:
        serve_slot(self._slot, self._detect_and_publish, self._on_error, 'image')

    def _on_error(self, cause: str, text: str) -> None:
        self.stats.errors += 1
        self._log.warn(cause, f'{text} ({self.stats.errors} errors so far)')

    def _detect_and_publish(self, msg: Image) -> None:
        image = to_rgb_or_grey(image_to_array(msg), msg.encoding)
        if image.dtype != 'uint8':
            raise ConfigError(f'detector needs 8-bit images, got {msg.encoding!r}')
        start = time.perf_counter()
        dets = self.detector.detect(image)
        if self.keep_names:
            dets = [d for d in dets if d.label in self.keep_names]
        self.stats.last_ms = (time.perf_counter() - start) * 1e3
        self._pub_image.publish(image_message(draw_detections(image, dets), msg.header))
        self._pub_json.publish(String(data=detections_json(dets, stamp_ns(msg.header.stamp),
                                                           msg.header.frame_id)))
        if self._pub_array is not None:
            self._pub_array.publish(self._array(msg, dets))
        self.stats.processed += 1
        self.stats.detections += len(dets)

    def _array(self, msg: Image, dets: list[Detection]) -> Any:
        vm = self.vm
        array = vm.Detection2DArray(header=msg.header)
        for d in dets:
            det = vm.Detection2D(header=msg.header)
            cx, cy, w, h = d.center_size
            det.bbox.center.position.x, det.bbox.center.position.y = cx, cy
            det.bbox.size_x, det.bbox.size_y = w, h
            hyp = vm.ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = d.label, d.score
            det.results.append(hyp)
            array.detections.append(det)
        return array

    @guarded('timer')
    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        stats = self.stats
        prev, span = self._window.advance(stats)
        if stats.errors > prev.errors and stats.processed == prev.processed:
            level, text = DiagnosticStatus.ERROR, 'every image of the last second failed'
        elif now - stats.last_input > 2.0:
            level, text = DiagnosticStatus.WARN, 'no input images for 2 s'
        elif stats.lost > prev.lost:
            level, text = DiagnosticStatus.WARN, (f'{stats.lost - prev.lost} images lost in '
                                                  'transport since the last report')
        else:
            level, text = DiagnosticStatus.OK, 'detecting'
        values = {
            'input rate (Hz)': per_second(stats.images_in, prev.images_in, span),
            'output rate (Hz)': per_second(stats.processed, prev.processed, span),
            'processed': str(stats.processed), 'detections': str(stats.detections),
            'dropped': str(stats.dropped), 'lost in transport': str(stats.lost),
            'errors': str(stats.errors), 'backend': self.backend,
            'threads': self.threads.describe(),
            'inference (ms)': f'{stats.last_ms:.1f}',
            'callback errors': callback_errors_text(self.callback_errors),
        }
        self._pub_diag.publish(diagnostic_array(self, level, f'{self.get_name()}: detection',
                                                text, self.backend, values))


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; exit 1 on a configuration it cannot run."""
    try:
        return run_node(DetectorNode, args, stop=lambda node: node.stop())
    except FusionError as err:
        print(f'detector_node: {err}', flush=True)
        return 1


if __name__ == '__main__':
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # imports done: main decides
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
    raise SystemExit(main())

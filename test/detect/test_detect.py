# SPDX-License-Identifier: Apache-2.0
"""Detection core: NMS, YOLO decoding of both layouts, letterbox inverse, HOG, drawing."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_ros.detect import Detection, box_iou, build_detector, draw_detections, nms
from fusion_ros.detect.onnx_yolo import decode_yolo, letterbox
from fusion_ros.errors import ConfigError
from test.detect.onnx_models import yolo_onnx

pytest.importorskip('onnxruntime')


def test_nms_suppresses_overlaps_within_a_class_only():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert nms(boxes, scores, 0.5, classes=np.array([0, 0, 1, 0])).tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.9).tolist() == [0, 1, 3]  # IoU 0.68 survives a 0.9 limit
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    np.testing.assert_allclose(box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [5, 5, 6, 6]]),
                               [[1 / 7, 0.0]])


ROWS = [  # cx, cy, w, h, obj, class0, class1  (network input pixels, 160x160)
    [80, 80, 40, 80, 0.9, 0.95, 0.05],  # class 0, score 0.855
    [82, 82, 40, 80, 0.8, 0.90, 0.10],  # overlaps the first: suppressed
    [30, 40, 20, 20, 0.9, 0.10, 0.80],  # class 1, score 0.72
    [120, 120, 10, 10, 0.1, 0.50, 0.50],  # too weak
]


@pytest.mark.parametrize('layout', ['yolov5', 'yolov8'])
def test_decode_both_layouts(layout):
    table = np.asarray(ROWS, np.float32)
    if layout == 'yolov8':  # v8 has no objectness; fold it into the class scores
        out = np.concatenate([table[:, :4], table[:, 5:] * table[:, 4:5]], 1).T[None]
    else:
        out = table[None]
    boxes, scores, ids = decode_yolo(out, layout, 0.25, 0.45)
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(scores, [0.855, 0.72], atol=1e-6)
    np.testing.assert_allclose(boxes, [[60, 40, 100, 120], [20, 30, 40, 50]], atol=1e-4)
    boxes, _, ids = decode_yolo(out, layout, 0.25, 0.45, classes=[1])
    assert ids.tolist() == [1]


def test_auto_layout_follows_the_long_box_axis():
    rng = np.random.default_rng(0)
    v5 = rng.random((1, 300, 7)).astype(np.float32)  # real exports: thousands of boxes
    a = decode_yolo(v5, 'auto', 0.5, 0.45)
    b = decode_yolo(v5, 'yolov5', 0.5, 0.45)
    c = decode_yolo(v5.transpose(0, 2, 1)[:, [0, 1, 2, 3, 5, 6]], 'auto', 0.5, 0.45)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(c[0]) > len(a[0])  # v8 scores lack the objectness factor: more pass


def test_letterbox_geometry():
    img = np.zeros((240, 320, 3), np.uint8)
    out, scale, (px, py) = letterbox(img, (160, 160))
    assert out.shape == (160, 160, 3) and scale == 0.5 and (px, py) == (0.0, 20.0)
    assert out[0, 0, 0] == 114 and out[80, 80, 0] == 0


@pytest.mark.parametrize('layout', ['yolov5', 'yolov8'])
def test_onnx_detector_maps_boxes_back_to_the_image(tmp_path, layout):
    # a box centred in the 160x160 input, scoring 0.27 (+ the image's mean brightness)
    rows = [[80, 80, 40, 80, 0.3, 0.9, 0.1]] if layout == 'yolov5' else [
        [80, 80, 40, 80, 0.0, 0.27, 0.0]]
    path = yolo_onnx(tmp_path / 'm.onnx', rows, layout)
    det = build_detector('onnx', model_path=str(path), score_threshold=0.5,
                         names=['person', 'car'], layout=layout)
    # 320x240 image: scale 0.5, 20 px of padding above -> box (120, 40)-(200, 200)
    bright = np.full((240, 320, 3), 255, np.uint8)
    found = det.detect(bright)
    assert [d.label for d in found] == ['person']
    np.testing.assert_allclose(found[0].xyxy, (120, 40, 200, 200), atol=1e-3)
    # the score depends on the input: on a black image the box falls under the threshold
    assert det.detect(np.zeros((240, 320, 3), np.uint8)) == []
    assert det.detect(np.full((240, 320), 255, np.uint8))  # grey input works too


def test_onnx_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match='needs a model path'):
        build_detector('onnx')
    with pytest.raises(ConfigError, match='does not exist'):
        build_detector('onnx', model_path=str(tmp_path / 'none.onnx'))
    (tmp_path / 'junk.onnx').write_bytes(b'not a model')
    with pytest.raises(ConfigError, match='cannot load ONNX model'):
        build_detector('onnx', model_path=str(tmp_path / 'junk.onnx'))
    with pytest.raises(ConfigError, match='unknown detector backend'):
        build_detector('ssd')


def test_hog_finds_people_in_real_night_thermal(shared_dir):
    from fusion_ros.io.image_files import read_image

    det = build_detector('hog')
    found = det.detect(read_image(shared_dir / 'data/pairs/llvip/ir/010001.jpg'))
    assert len(found) >= 2 and all(d.label == 'person' for d in found)
    assert all(0.5 <= d.score <= 1 and d.y1 - d.y0 >= 128 for d in found)
    assert det.detect(np.zeros((512, 640, 3), np.uint8)) == []  # nothing in a blank frame
    assert det.detect(np.zeros((100, 50), np.uint8)) == []  # smaller than the window


def test_draw_detections_marks_the_box_and_leaves_the_input_alone():
    img = np.zeros((100, 120), np.uint8)
    drawn = draw_detections(img, [Detection('person', 0.9, 10, 20, 60, 90)])
    assert drawn.shape == (100, 120, 3) and img.max() == 0
    assert drawn[50, 10].any() and drawn[90, 30].any()  # left and bottom edges
    assert not drawn[50, 35].any()  # inside the box untouched

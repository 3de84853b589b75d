# SPDX-License-Identifier: Apache-2.0
"""Precision, recall and AP against hand-computed values; VOC XML; the eval-detection CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusion_ros.detect import Detection
from fusion_ros.errors import ConfigError
from fusion_ros.metrics.detection import (
    GroundTruth,
    average_precision,
    evaluate_detections,
    read_voc_xml,
)

A = GroundTruth('person', 0, 0, 10, 20)
B = GroundTruth('person', 50, 50, 60, 70)


def det(score, x0, y0, x1, y1, label='person'):
    return Detection(label, score, x0, y0, x1, y1)


def test_perfect_detections_score_one():
    s = evaluate_detections([[det(0.9, 0, 0, 10, 20)], [det(0.8, 50, 50, 60, 70)]], [[A], [B]],
                            ['person'])
    assert (s.precision, s.recall, s.ap50, s.ap50_95) == (1.0, 1.0, 1.0, 1.0)


def test_ap_by_hand():
    # ranked: TP (0.9), FP (0.8), TP (0.7) over 2 ground truths:
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 0.5 * 1 + 0.5 * 2/3
    preds = [[det(0.9, 0, 0, 10, 20), det(0.8, 100, 100, 110, 120)], [det(0.7, 50, 50, 60, 70)]]
    s = evaluate_detections(preds, [[A], [B]], ['person'])
    assert s.ap50 == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert s.precision == pytest.approx(2 / 3) and s.recall == 1.0
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0


def test_duplicates_are_false_positives_and_iou_thresholds_matter():
    # a second box on the same person is a false positive
    s = evaluate_detections([[det(0.9, 0, 0, 10, 20), det(0.8, 0, 0, 10, 20)]], [[A]],
                            ['person'])
    assert s.precision == 0.5 and s.ap50 == 1.0  # the duplicate ranks below the hit
    # shifted by 2 px: IoU = 8*20 / (2*200 - 8*20) = 0.667 -> a hit up to threshold 0.65
    s = evaluate_detections([[det(0.9, 2, 0, 12, 20)]], [[A]], ['person'])
    assert s.ap50 == 1.0 and s.ap50_95 == pytest.approx(4 / 10)


def test_classes_are_scored_separately():
    preds = [[det(0.9, 0, 0, 10, 20, 'car')]]
    assert evaluate_detections(preds, [[A]], ['person']).recall == 0.0
    both = evaluate_detections(preds, [[A, GroundTruth('car', 0, 0, 10, 20)]], ['person', 'car'])
    assert both.ap50 == pytest.approx(0.5)  # mean of person 0 and car 1
    with pytest.raises(ConfigError):
        evaluate_detections([[]], [[A], [B]], ['person'])


def test_read_voc_xml(tmp_path):
    xml = tmp_path / '010001.xml'
    xml.write_text('<annotation><object><name>person</name><bndbox><xmin>10</xmin>'
                   '<ymin>20</ymin><xmax>30</xmax><ymax>80</ymax></bndbox></object>'
                   '<object><name>person</name><bndbox><xmin>1</xmin><ymin>2</ymin>'
                   '<xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>')
    assert read_voc_xml(xml) == [GroundTruth('person', 10, 20, 30, 80),
                                 GroundTruth('person', 1, 2, 3, 4)]
    (tmp_path / 'bad.xml').write_text('<annotation>')
    with pytest.raises(ConfigError, match='cannot read VOC'):
        read_voc_xml(tmp_path / 'bad.xml')


def test_eval_detection_cli_on_a_synthetic_bag(tmp_path, capsys):
    from fusion_ros.cli.main import main
    from fusion_ros.cli.synth import write_synthetic_bag

    bag = tmp_path / 'seq'
    write_synthetic_bag(bag, seconds=2.0, size=(320, 256), seed=2, progress=False,
                        thermal_offset=(6.0, 4.0, 1.0))
    out = tmp_path / 'report'
    assert main(['eval-detection', '--bag', str(bag), '--model', 'laplacian', '--upscale', '2',
                 '--every', '4', '--out', str(out)]) == 0
    doc = json.loads((out / 'results.json').read_text())
    assert doc['frames'] == 10 and set(doc['scores']) == {'visible', 'thermal',
                                                          'fused (laplacian)'}
    for scores in doc['scores'].values():
        assert scores['ground_truth'] == 10  # one pedestrian per frame
        assert 0.0 <= scores['recall'] <= 1.0 and 0.0 <= scores['mAP@0.5'] <= 1.0
    assert max(s['recall'] for s in doc['scores'].values()) > 0  # someone finds the walker
    assert (out / 'detection.png').stat().st_size > 1000
    assert '| fused (laplacian) |' in capsys.readouterr().out


def test_eval_detection_needs_ground_truth(tmp_path, capsys):
    from fusion_ros.cli.main import main
    from fusion_ros.io.bag import BagWriter

    with BagWriter(tmp_path / 'b') as w:
        w.write_image('/rgb/image_raw', np.zeros((4, 4, 3), np.uint8), 'rgb8', 1, 'c')
    assert main(['eval-detection', '--bag', str(tmp_path / 'b'), '--out',
                 str(tmp_path / 'o')]) == 1
    assert 'no ground truth' in capsys.readouterr().err

# SPDX-License-Identifier: Apache-2.0
"""fusion-ros register: a misregistered recording's homography, its files and its errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

from fusion_ros.cli.main import main
from fusion_ros.registration import corner_error


@pytest.fixture(scope='module')
def offset_bag(tmp_path_factory):
    from fusion_ros.cli.synth import write_synthetic_bag

    path = tmp_path_factory.mktemp('register') / 'offset'
    write_synthetic_bag(path, seconds=1.5, size=(320, 256), seed=5, progress=False,
                        thermal_offset=(14.0, -9.0, 1.06))
    return path


def test_bag_gives_the_ground_truth_homography(offset_bag, tmp_path, capsys):
    out = tmp_path / 'reg'
    assert main(['register', '--bag', str(offset_bag), '--frames', '12', '--out', str(out),
                 '--json']) == 0
    doc = json.loads(capsys.readouterr().out)
    truth = np.array(json.loads((offset_bag / 'ground_truth.json').read_text())['homography'])
    h = np.array(doc['homography']).reshape(3, 3)
    assert len(doc['homography']) == 9 and doc['model'] == 'similarity'
    assert doc['frames'] == 12 and doc['frames_used'] == 12
    assert corner_error(h, truth, (320, 256)) <= 1.0
    assert doc['spread_px'] is not None and doc['score'] > doc['score_before']
    # the YAML is a params file the node reads; the picture is an image
    params = yaml.safe_load((out / 'registration.yaml').read_text())
    values = params['/**']['ros__parameters']['registration']['homography']
    assert np.allclose(np.reshape(values, (3, 3)), h, atol=1e-6)
    sheet = cv2.imread(str(out / 'registration.png'))
    assert sheet is not None and sheet.shape[1] > 4 * 320 * 0.9
    assert json.loads((out / 'registration.json').read_text())['homography'] == \
        doc['homography']


def test_folders_and_text_output(tmp_path, capsys):
    from fusion_ros.data.synthetic import SynthConfig, generate_sequence
    from fusion_ros.io.image_files import write_image

    cfg = SynthConfig(width=320, height=256, seconds=0.3, seed=2,
                      thermal_offset=(-10.0, 6.0, 1.0))
    for k, f in enumerate(generate_sequence(cfg)):
        write_image(tmp_path / 'ir' / f'{k:03d}.png', f.thermal)
        write_image(tmp_path / 'vi' / f'{k:03d}.jpg', f.rgb)  # pairs match by stem
    code = main(['register', '--ir', str(tmp_path / 'ir'), '--vi', str(tmp_path / 'vi'),
                 '--model', 'translation', '--out', str(tmp_path / 'out'), '--no-progress'])
    text = capsys.readouterr().out
    assert code == 0
    assert 'thermal -> RGB homography (translation, 6 of 6 frames)' in text
    assert 'registration:\n      homography: [' in text
    h = json.loads((tmp_path / 'out' / 'registration.json').read_text())['homography']
    assert corner_error(np.reshape(h, (3, 3)), cfg.homography, (320, 256)) <= 1.0


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # neither --bag nor --ir: argparse, exit 2
        main(['register'])
    assert exc.value.code == 2
    assert main(['register', '--ir', str(tmp_path)]) == 2
    assert '--ir needs --vi' in capsys.readouterr().err
    (tmp_path / 'ir').mkdir()
    (tmp_path / 'vi').mkdir()
    cv2.imwrite(str(tmp_path / 'ir' / 'a.png'), np.full((64, 64), 100, np.uint8))
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.full((64, 64, 3), 100, np.uint8))
    assert main(['register', '--ir', str(tmp_path / 'ir'), '--vi', str(tmp_path / 'vi'),
                 '--out', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err
    assert 'error: none of the 1 frames has enough structure' in err
    assert 'Traceback' not in err
    assert not (tmp_path / 'out').exists()  # nothing written for a refused answer

# SPDX-License-Identifier: Apache-2.0
"""fusion-ros eval on small image folders."""

import csv

import cv2
import numpy as np

from fusion_ros.cli.main import main


def make_set(root, names, size=(48, 40), colour=False):
    rng = np.random.default_rng(len(str(root)))
    root.mkdir(parents=True)
    for n in names:
        shape = (*size, 3) if colour else size
        cv2.imwrite(str(root / n), rng.integers(0, 256, shape, dtype=np.uint8))


def test_report_files_and_problems_named(tmp_path, capsys):
    names = ['01.png', '02.png', '03.png']
    make_set(tmp_path / 'ir', names)
    make_set(tmp_path / 'vi', names)
    make_set(tmp_path / 'good', names, colour=True)
    make_set(tmp_path / 'partial', ['01.png', '03.png'])
    make_set(tmp_path / 'wrongsize', ['01.png'], size=(20, 20))
    out = tmp_path / 'report'
    code = main(['eval', '--ir', str(tmp_path / 'ir'), '--vi', str(tmp_path / 'vi'),
                 '--fused', f'good={tmp_path / "good"}',
                 '--fused', f'partial={tmp_path / "partial"}',
                 '--fused', f'wrongsize={tmp_path / "wrongsize"}',
                 '--metrics', 'EN', 'MI', 'MSE', '--jobs', '1', '--out', str(out)])
    assert code == 0
    captured = capsys.readouterr()
    with open(out / 'per_image.csv') as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ['method', 'image', 'EN', 'MI', 'MSE']
    assert sorted((r['method'], r['image']) for r in rows) == [
        ('good', '01.png'), ('good', '02.png'), ('good', '03.png'),
        ('partial', '01.png'), ('partial', '03.png')]
    summary = (out / 'summary.md').read_text()
    assert 'partial / 02.png: no fused image' in summary
    assert 'wrongsize / 01.png: sizes differ' in summary
    assert 'wrongsize / 02.png' in captured.err
    assert '| good | 3 |' in summary and '**' in summary
    assert (out / 'means.png').stat().st_size > 1000
    assert (out / 'boxplots.png').stat().st_size > 1000


def test_missing_benchmark_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('FUSION_ROS_SHARED', str(tmp_path / 'nowhere'))
    assert main(['eval', '--benchmark', 'tno42', '--out', str(tmp_path / 'r')]) == 1
    assert 'FUSION_ROS_SHARED' in capsys.readouterr().err


def test_fused_argument_needs_a_name(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(['eval', '--ir', 'a', '--vi', 'b', '--fused', 'nodir', '--out', 'r'])
    assert 'expected NAME=DIR' in capsys.readouterr().err

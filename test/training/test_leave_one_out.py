# SPDX-License-Identifier: Apache-2.0
"""benchmarks/leave_one_out.py with several seeds: one run per seed, trained two at a time,
and a summary whose mean, spread and margin come from the per-run table it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'leave_one_out.py'


def _shared(root: Path) -> Path:
    """Three tiny pair sets laid out as ../shared/data/pairs: smooth scenes, so the sources
    have edges to keep."""
    rng = np.random.default_rng(5)
    for name, count in (('llvip', 2), ('roadscene', 4), ('msrs', 2)):
        for sub in ('ir', 'vi'):
            (root / 'data' / 'pairs' / name / sub).mkdir(parents=True)
        for i in range(count):
            stem = f'{i:03d}' + ('D' if name == 'msrs' else '')
            noise = rng.integers(0, 256, (8, 8, 3), np.uint8)
            big = cv2.resize(noise, (64, 64), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(root / 'data' / 'pairs' / name / 'vi' / f'{stem}.png'), big)
            cv2.imwrite(str(root / 'data' / 'pairs' / name / 'ir' / f'{stem}.png'),
                        255 - big[..., 0])
    return root


def _run(args: list[str], shared: Path, runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, 'FUSION_ROS_SHARED': str(shared), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, str(SCRIPT), '--runs', str(runs), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def _rows(text: str, subset: str) -> dict[str, list[float]]:
    """method -> metric values of the per-run table's rows for ``subset``."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) > 2 and re.fullmatch(rf'{subset} \(\d+\)', cells[0]):
            rows[cells[1]] = [float(c) for c in cells[2:]]
    return rows


def test_seeds_train_a_run_each_two_at_a_time_and_summarise_the_spread(tmp_path):
    shared, runs, out = _shared(tmp_path / 'shared'), tmp_path / 'runs', tmp_path / 'loo.md'
    args = ['--model', 'fastfusion', '--sets', 'llvip', '--seeds', '0', '3', '--jobs', '2',
            '--no-shipped', '--metrics', 'Qabf', 'SD', '--out', str(out), '--train-args',
            '--threads 1 --steps 2 --batch 2 --patch 32 --precision fp32']
    done = _run(args, shared, runs)
    assert done.returncode == 0, done.stderr[-2000:]
    labels = ['fastfusion-without-llvip-seed0', 'fastfusion-without-llvip-seed3']
    for label, seed in zip(labels, (0, 3)):
        config = yaml.safe_load((runs / label / 'config.yaml').read_text())
        assert config['seed'] == seed
        assert not any('llvip' in str(d) for d in config['data'])
        assert (runs / label / 'final.pt').is_file()
        assert 'steps on cpu' in (runs / f'{label}.log').read_text()  # its own log
    text = out.read_text()
    rows = _rows(text, 'llvip')
    assert set(rows) == {*labels, 'average', 'max', 'laplacian'}
    summary = [line for line in text.splitlines() if line.startswith('| llvip |')]
    assert [line.split('|')[2].strip() for line in summary] == ['Qabf', 'SD']
    for k, line in enumerate(summary):
        cells = [c.strip() for c in line.strip('|').split('|')]
        runs_k = [rows[label][k] for label in labels]
        best = max(('average', 'max', 'laplacian'), key=lambda b: rows[b][k])
        tol = 2e-3 * max(abs(v) for v in (*runs_k, rows[best][k]))  # the tables' 4 digits
        assert [float(c) for c in cells[2:4]] == runs_k
        assert float(cells[4]) == pytest.approx(np.mean(runs_k), abs=tol)
        assert float(cells[5]) == pytest.approx(np.std(runs_k, ddof=1), abs=tol)
        name, value = cells[6].split()
        assert (name, float(value)) == (best, rows[best][k])
        assert float(cells[7]) == pytest.approx(np.mean(runs_k) - rows[best][k], abs=tol)
    # finished runs are reused, not trained again
    again = _run(args, shared, runs)
    assert again.returncode == 0
    assert again.stdout.count('finished run reused') == 2
    assert 'fusion_ros train' not in again.stdout


def test_the_seed_goes_in_seeds_not_in_the_training_arguments(tmp_path):
    done = _run(['--sets', 'llvip', '--seeds', '0', '--train-args', '--seed 1'],
                _shared(tmp_path / 'shared'), tmp_path / 'runs')
    assert done.returncode == 2 and 'not in --train-args' in done.stderr

# SPDX-License-Identifier: Apache-2.0
"""benchmarks/heldout.py's resized copies: validation pairs as a camera of another frame
size would see them, scored as sets of their own."""

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'heldout.py'


def _pairs(root: Path) -> Path:
    """Three smooth 48x64 pairs whose thermal image is the visible one inverted."""
    rng = np.random.default_rng(4)
    for sub in ('ir', 'vi'):
        (root / sub).mkdir(parents=True)
    for i in range(3):
        big = cv2.resize(rng.integers(0, 256, (6, 8, 3), np.uint8), (64, 48),
                         interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(root / 'vi' / f'{i}.png'), big)
        cv2.imwrite(str(root / 'ir' / f'{i}.png'), 255 - big[..., 0])
    return root


def _rows(table: str) -> dict[tuple[str, str], float]:
    """(set, method) -> Qabf from the printed Markdown table."""
    found = re.findall(r'^\| (.+?) \((\d+)\) \| (\w+) \| ([\d.]+) \|$', table, re.M)
    return {(subset, method): float(q) for subset, _, method, q in found}


def test_resized_copies_are_scored_as_sets_of_their_own(tmp_path):
    data = _pairs(tmp_path / 'roadscene')
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), '--data', str(data), '--models', 'fastfusion',
         '--metrics', 'Qabf', '--resize-copies', '3', '0.5', '--first', '2'],
        capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = _rows(out.stdout)
    subsets = {subset for subset, _ in rows}
    assert subsets == {'roadscene', 'roadscene x3', 'roadscene x0.5'}, out.stdout
    assert 'Pairs of ' in out.stdout and '(2: roadscene 2)' in out.stdout  # --first 2
    # an enlarged copy spreads every edge over three times the pixels: Laplacian's 3x3 edge
    # scores change with it, so the copy is a different test, not the same pairs again
    assert rows[('roadscene x3', 'laplacian')] != rows[('roadscene', 'laplacian')]
    bad = subprocess.run([sys.executable, str(SCRIPT), '--data', str(data),
                          '--resize-copies', '0'], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and 'resize-copies' in bad.stderr

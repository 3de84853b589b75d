# SPDX-License-Identifier: Apache-2.0
"""The tang convention reproduces the benchmark MATLAB sheet on all 9 methods x 42 images."""

import csv

import pytest

from fusion_ros.metrics.report import evaluate, find_tasks

pytestmark = pytest.mark.shared

# metric -> largest relative deviation allowed. The issue asks 1e-3 for the first nine; we
# reproduce every one far tighter, SD and VIF included (measured: SD 0, VIF 4.2e-9).
TOLERANCE = {'PSNR': 1e-9, 'MSE': 1e-9, 'EN': 1e-9, 'MI': 1e-9, 'AG': 1e-9, 'CC': 1e-9,
             'SCD': 1e-9, 'SF': 1e-9, 'Qabf': 1e-9, 'SD': 1e-9, 'VIF': 1e-6}


@pytest.fixture(scope='module')
def computed(request):
    shared = request.getfixturevalue('shared_dir')
    root = shared / 'data' / 'benchmarks' / 'tno42'
    methods = {p.name: p for p in sorted((root / 'methods').iterdir()) if p.is_dir()}
    tasks, _ = find_tasks(root / 'ir', root / 'vi', methods)
    rows, problems = evaluate(tasks, list(TOLERANCE), 'tang', jobs=2, progress=False)
    assert not problems
    return root, {(r['method'], r['image']): r for r in rows}


@pytest.mark.parametrize('metric', list(TOLERANCE))
def test_matches_sheet(computed, metric):
    root, rows = computed
    with open(root / 'metrics' / f'{metric}.csv') as f:
        sheet = list(csv.DictReader(f))
    assert len(sheet) == 42
    checked = 0
    for line in sheet:
        for method, value in line.items():
            if method == 'image':
                continue
            ours = rows[(method, line['image'])][metric]
            expected = float(value)
            assert abs(ours - expected) <= TOLERANCE[metric] * abs(expected), (
                method, line['image'], ours, expected)
            checked += 1
    assert checked == 42 * 9

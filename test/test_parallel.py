# SPDX-License-Identifier: Apache-2.0
"""`make test` runs the suite on pytest-xdist workers: each worker must get a ROS domain of
its own (two workers' nodes on one domain would hear each other's topics) and its share of
the CPUs for torch (two full OpenMP teams on the same cores busy-wait on each other)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test.bounds import HANG_S

pytest.importorskip('xdist', reason='pytest-xdist is not installed (make setup installs it)')

ROOT = Path(__file__).parents[1]

# Every worker runs this (--dist each) and reports what the suite's conftest gave it.
REPORT = """
import json, os
from pathlib import Path

import torch


def test_report():
    worker = os.environ['PYTEST_XDIST_WORKER']
    Path(os.environ['REPORT_DIR'], worker + '.json').write_text(json.dumps({
        'domain': os.environ['ROS_DOMAIN_ID'], 'threads': torch.get_num_threads()}))
"""


def test_each_worker_gets_its_own_ros_domain_and_a_share_of_the_cpus(tmp_path):
    from fusion_ros.threads import usable_cpus

    (tmp_path / 'conftest.py').write_text('from test.conftest import *  # noqa: F403\n')
    (tmp_path / 'test_report.py').write_text(REPORT)
    env = {**os.environ, 'REPORT_DIR': str(tmp_path), 'PYTHONPATH': str(ROOT)}
    env.pop('PYTEST_XDIST_WORKER', None)  # this suite's own worker, if any: a fresh controller
    run = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-n', '2',
         '--dist', 'each', '--rootdir', str(tmp_path), '-c', os.devnull,
         str(tmp_path / 'test_report.py')],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_S)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    reports = {path.stem: json.loads(path.read_text()) for path in tmp_path.glob('gw*.json')}
    assert sorted(reports) == ['gw0', 'gw1']
    domains = {int(report['domain']) for report in reports.values()}
    assert len(domains) == 2 and all(0 <= domain <= 101 for domain in domains)
    assert max(domains) - min(domains) == 1  # one drawn base, plus the worker's number
    share = max(1, usable_cpus() // 2)
    assert all(report['threads'] == share for report in reports.values())

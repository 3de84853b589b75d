# SPDX-License-Identifier: Apache-2.0
"""Freed memory kept for reuse (``fusion_ros.memory``): a buffer freed and allocated again
is served from the process's own heap, without faulting its pages in again, and the user's
own glibc settings or the opt-out leave the default. Counted in page faults, not timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fusion_ros.memory import keep_freed_memory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith('linux') or os.confstr('CS_GNU_LIBC_VERSION') is None,
    reason='mallopt is glibc-only')

# a child that runs 8 "steps" of a convolution on a batch (32 MiB of output a step, freed
# at the end of each, as a training step's activations) and counts the page faults of the
# last 4, when the heap has grown to what a step needs
_CHILD = r"""
import json, resource, sys
import torch
from fusion_ros.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == 'keep' else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x, w = torch.ones(16, 8, 256, 256), torch.ones(8, 8, 3, 3)
for step in range(8):
    if step == 4:
        before = faults()
    torch.nn.functional.conv2d(x, w, padding=1).relu().sum()
print(json.dumps({'kept': kept, 'faults': faults() - before}))
"""
_PAGES = (32 << 20) // 4096  # 8,192 pages of 4 KiB in one step's output


def _last_steps(mode: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith('MALLOC_')}
    environ.update(env, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', _CHILD, mode], env=environ, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_each_step_reuses_the_last_ones_buffers_without_faulting_them_in_again():
    default = _last_steps('default')
    kept = _last_steps('keep')
    assert default['faults'] > 4 * _PAGES  # glibc gave each step's output back to the kernel
    assert kept['kept'] is True
    assert kept['faults'] < _PAGES // 4  # 4 steps on the pages the first ones faulted in


@pytest.mark.parametrize('env', [{'FUSION_ROS_KEEP_FREED_MEMORY': '0'},
                                 {'MALLOC_MMAP_THRESHOLD_': '65536'},
                                 {'MALLOC_TRIM_THRESHOLD_': '131072'}])
def test_the_opt_out_and_the_users_own_glibc_settings_are_left_alone(env):
    result = _last_steps('keep', **env)
    assert result['kept'] is False
    assert result['faults'] > 4 * _PAGES


def test_the_trainer_cli_keeps_freed_memory(monkeypatch, tmp_path):
    """``fusion-ros train`` turns it on before it trains (and says so)."""
    from fusion_ros.cli import train as train_cli

    calls = []
    monkeypatch.setattr('fusion_ros.memory.keep_freed_memory', lambda: calls.append(1) or True)
    monkeypatch.setattr('fusion_ros.training.stages.train_with_stages',
                        lambda *a, **k: {})
    parser = __import__('argparse').ArgumentParser()
    train_cli.add_arguments(parser)
    pairs = tmp_path / 'pairs'
    args = parser.parse_args(['fastfusion', '--data', f'pairs:{pairs}', '--out',
                              str(tmp_path / 'run'), '--threads', '1'])
    assert train_cli.run(args) == 0
    assert calls == [1]


def test_in_this_process_it_reports_whether_glibc_took_it(monkeypatch):
    monkeypatch.setenv('FUSION_ROS_KEEP_FREED_MEMORY', '0')
    assert keep_freed_memory() is False

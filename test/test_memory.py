# SPDX-License-Identifier: Apache-2.0
"""Freed memory kept for reuse (``fusion_ros.memory``): a buffer freed and allocated again
is served from the process's own heap, without faulting its pages in again, and the user's
own glibc settings or the opt-out leave the default. Counted in page faults, not timed."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

import pytest

from fusion_ros.memory import keep_freed_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
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


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Records who asked to keep freed memory, instead of asking glibc."""
    seen: list[str] = []
    monkeypatch.setattr('fusion_ros.memory.keep_freed_memory',
                        lambda: seen.append('memory') or True)
    return seen


def test_every_fusion_ros_command_keeps_freed_memory_first(monkeypatch, calls):
    from fusion_ros.cli import main as cli_main

    monkeypatch.setattr(cli_main, 'keep_freed_memory', lambda: calls.append('cli') or True)
    with pytest.raises(SystemExit):
        cli_main.main(['--version'])
    assert calls == ['cli']


def test_the_trainer_cli_says_whether_it_took(monkeypatch, tmp_path, calls, capsys):
    """``fusion-ros train`` (also run as ``python -m fusion_ros.train`` under torchrun)."""
    from fusion_ros.cli import train as train_cli

    monkeypatch.setattr('fusion_ros.training.stages.train_with_stages', lambda *a, **k: {})
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(['fastfusion', '--data', f'pairs:{tmp_path}', '--out',
                              str(tmp_path / 'run'), '--threads', '1'])
    assert train_cli.run(args) == 0
    assert calls == ['memory']
    assert 'freed memory kept for reuse' in capsys.readouterr().out


def test_a_node_process_keeps_freed_memory_before_rclpy_starts(monkeypatch, calls):
    node_support = pytest.importorskip('fusion_ros.ros.node_support',
                                       reason='rclpy is not installed')
    monkeypatch.setattr(node_support, 'keep_freed_memory', lambda: calls.append('node'))

    def no_ros(args):
        calls.append('rclpy')
        raise KeyboardInterrupt  # a Ctrl-C while rclpy starts: a normal stop

    monkeypatch.setattr(node_support, 'init_node_process', no_ros)
    assert node_support.run_node(lambda: None, []) == 0
    assert calls == ['node', 'rclpy']


def test_in_this_process_it_reports_whether_glibc_took_it(monkeypatch):
    keep_freed_memory.cache_clear()  # once a process otherwise
    monkeypatch.setenv('FUSION_ROS_KEEP_FREED_MEMORY', '0')
    try:
        assert keep_freed_memory() is False
    finally:
        keep_freed_memory.cache_clear()

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

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                                reason='mallopt is glibc-only')

# a child that runs "steps" of a convolution on a batch (32 MiB of output a step, freed at
# the end of each, as a training step's activations): 8 with glibc's default heap, then 8
# more kept, and counts the page faults of the last 4 of each (the heap grown to a step's
# needs by then)
_CHILD = r"""
import json, resource
import torch
from fusion_ros.memory import keep_freed_memory
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x, w = torch.ones(16, 8, 256, 256), torch.ones(8, 8, 3, 3)
def last_4_of_8():
    for step in range(8):
        if step == 4:
            before = faults()
        torch.nn.functional.conv2d(x, w, padding=1).relu().sum()
    return faults() - before
default = last_4_of_8()
kept = keep_freed_memory()
print(json.dumps({'default': default, 'kept': kept, 'kept_faults': last_4_of_8()}))
"""
_PAGES = (32 << 20) // 4096  # 8,192 pages of 4 KiB in one step's output


@glibc_only
def test_each_step_reuses_the_last_ones_buffers_without_faulting_them_in_again():
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith('MALLOC_') and k != 'FUSION_ROS_KEEP_FREED_MEMORY'}
    out = subprocess.run([sys.executable, '-c', _CHILD], check=True, capture_output=True,
                         text=True, timeout=120, env={**environ, 'OMP_NUM_THREADS': '1'})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['default'] > 4 * _PAGES  # glibc gave each step's output back to the kernel
    assert result['kept'] is True
    # the same 4 steps on pages faulted in once (a buffer or two more while the heap grows;
    # the default faults in two buffers every step)
    assert result['kept_faults'] <= 2 * _PAGES < result['default'] // 4


@pytest.mark.parametrize('env', [{'FUSION_ROS_KEEP_FREED_MEMORY': '0'},
                                 {'MALLOC_MMAP_THRESHOLD_': '65536'},
                                 {'MALLOC_TRIM_THRESHOLD_': '131072'}])
def test_the_opt_out_and_the_users_own_glibc_settings_are_left_alone(monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    keep_freed_memory.cache_clear()  # once a process otherwise
    try:
        assert keep_freed_memory() is False
    finally:
        keep_freed_memory.cache_clear()


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

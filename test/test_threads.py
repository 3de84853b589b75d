# SPDX-License-Identifier: Apache-2.0
"""CPU threads: ``auto`` resolves from the CPUs this process may use, a number means exactly
that, the engine and the CLIs apply and report it; ``--load`` busy loops never outlive
their run. No timing here: what the setting buys is measured in docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.load import busy_load
from fusion_ros.threads import THREADS_AUTO, parse_threads, resolve_threads, usable_cpus
from test.bounds import HANG_S, wait_until


@pytest.mark.parametrize(('cpus', 'count'), [(1, 1), (2, 1), (3, 1), (8, 4), (64, 32)])
def test_auto_is_half_the_usable_cpus_and_at_least_one(cpus, count):
    threads = resolve_threads('auto', cpus)
    assert threads.count == count and f'half of {cpus} usable CPUs' in threads.describe()


@pytest.mark.parametrize('value', [None, '', 0, 'auto'])
def test_every_spelling_of_auto(value):
    assert parse_threads(value) == THREADS_AUTO


def test_a_number_means_exactly_that():
    assert resolve_threads(3, cpus=2).count == 3  # even beyond the CPUs: as asked
    assert resolve_threads('5').describe() == '5 (as set)'


@pytest.mark.parametrize('bad', [-1, 'many', 1.5, '2.5', True])
def test_bad_values_are_refused(bad):
    with pytest.raises(ConfigError, match='threads must be auto or a number'):
        parse_threads(bad)


@pytest.mark.skipif(not hasattr(os, 'sched_setaffinity') or (os.cpu_count() or 1) < 2,
                    reason='needs Linux affinity and 2 CPUs')
def test_auto_follows_the_affinity_mask_not_the_machine():
    """Under ``taskset`` (or a container's CPU set) the process may use fewer CPUs than the
    machine has: auto counts those."""
    code = ('import os; os.sched_setaffinity(0, {0}); '
            'from fusion_ros.threads import resolve_threads, usable_cpus; '
            'print(usable_cpus(), resolve_threads("auto").count, os.cpu_count())')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:2] == ['1', '1'] and int(out[2]) >= 2
    assert usable_cpus() == len(os.sched_getaffinity(0))


def test_the_engine_applies_a_setting_and_leaves_the_process_alone_without_one():
    from fusion_ros.engine import FusionEngine

    torch.set_num_threads(2)
    assert FusionEngine('max').threads.count == 2  # None: the process's setting, untouched
    assert torch.get_num_threads() == 2
    engine = FusionEngine('max', threads=1)
    assert torch.get_num_threads() == 1 and engine.threads.describe() == '1 (as set)'
    auto = FusionEngine('max', threads='auto')
    assert torch.get_num_threads() == max(1, usable_cpus() // 2) == auto.threads.count


def test_bench_model_reports_the_threads_it_ran_with(capsys):
    from fusion_ros.cli.main import main

    assert main(['bench', 'model', '--model', 'max', '--size', '64x48', '--repeat', '1',
                 '--threads', '1', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['threads'] == '1 (as set)'
    assert main(['bench', 'model', '--model', 'max', '--size', '64x48', '--repeat', '1',
                 '--json']) == 0
    assert 'auto: half of' in json.loads(capsys.readouterr().out)['threads']


@pytest.mark.parametrize('bad', ['0', 'x'])
def test_a_bad_threads_flag_is_a_usage_error(bad, capsys):
    from fusion_ros.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(['bench', 'model', '--model', 'max', '--threads', bad])
    assert exc.value.code == 2
    assert 'threads must be auto or a number' in capsys.readouterr().err


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_busy_loops_run_for_the_block_and_are_gone_after():
    with busy_load(2) as loops:
        assert len(loops) == 2 and all(loop.poll() is None for loop in loops)
        pids = [loop.pid for loop in loops]
        assert all(_alive(pid) for pid in pids)
    assert all(loop.returncode is not None for loop in loops)  # reaped, not left running
    assert not any(_alive(pid) for pid in pids)
    with busy_load(0) as none:
        assert none == []
    with pytest.raises(ValueError), busy_load(-1):
        pass


def test_busy_loops_die_with_a_killed_parent():
    """A benchmark killed with SIGKILL runs no cleanup: the kernel ends its loops."""
    code = ('import sys, time; from fusion_ros.load import busy_load\n'
            'with busy_load(1) as loops:\n'
            '    print(loops[0].pid, flush=True); time.sleep(600)\n')
    parent = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert _alive(pid)
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: not _alive(pid) or _zombie(pid), 'the orphaned busy loop to end',
               HANG_S)


def _zombie(pid: int) -> bool:
    """Ended but not yet reaped by init (a container's PID 1 may reap late)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return False


def test_bench_load_flag_is_checked():
    from fusion_ros.cli.main import main
    from fusion_ros.errors import UsageError

    with pytest.raises(UsageError, match='--load must be >= 0'):
        main(['--debug', 'bench', 'model', '--model', 'max', '--load', '-1'])

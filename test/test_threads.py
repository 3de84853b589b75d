# SPDX-License-Identifier: Apache-2.0
"""CPU threads: ``auto`` resolves from the CPUs this process may use, a number means exactly
that, the engine and the CLIs apply and report it; ``--load`` busy loops never outlive
their run. No timing here: what the setting buys is measured in docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.load import busy_load
from fusion_ros.threads import (
    THREADS_AUTO,
    ThreadGovernor,
    parse_threads,
    resolve_threads,
    usable_cpus,
)
from test.bounds import HANG_S, wait_until


@pytest.mark.parametrize(('cpus', 'count'), [(1, 1), (2, 1), (3, 1), (8, 4), (64, 32)])
def test_static_auto_is_half_the_usable_cpus_and_at_least_one(cpus, count):
    threads = resolve_threads('auto', cpus, adaptive=False)
    assert threads.count == count and f'half of {cpus} usable CPUs' in threads.describe()
    assert not threads.adaptive


def test_adaptive_auto_starts_from_every_usable_cpu():
    threads = resolve_threads('auto', 8)
    assert threads.adaptive and threads.count == 8 and 'up to 8 usable CPUs' in threads.how
    assert not resolve_threads(3, 8).adaptive


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
    plain = FusionEngine('max')
    assert plain.threads.count == 2 and plain.governor is None  # the process's setting
    assert torch.get_num_threads() == 2
    engine = FusionEngine('max', threads=1)
    assert torch.get_num_threads() == 1 and engine.threads_text == '1 (as set)'
    assert engine.governor is None
    auto = FusionEngine('max', threads='auto')
    assert torch.get_num_threads() == usable_cpus() == auto.governor.count
    assert auto.threads_text.startswith(f'{usable_cpus()} of up to {usable_cpus()}')
    frame = np.zeros((16, 16), np.uint8)
    for _ in range(3):
        auto.fuse(frame, frame)  # every frame's model time reaches the governor
    assert auto.governor.settled_ms is not None


def test_bench_model_reports_the_threads_it_ran_with(capsys):
    from fusion_ros.cli.main import main

    assert main(['bench', 'model', '--model', 'max', '--size', '64x48', '--repeat', '1',
                 '--threads', '1', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['threads'] == '1 (as set)'
    assert main(['bench', 'model', '--model', 'max', '--size', '64x48', '--repeat', '1',
                 '--json']) == 0
    assert 'of up to' in json.loads(capsys.readouterr().out)['threads']


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
    code = ('import sys; from fusion_ros.load import busy_load\n'
            'with busy_load(1) as loops:\n'
            '    print(loops[0].pid, flush=True); sys.stdin.read()\n')  # until killed
    parent = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
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


class _Clock:
    """The governor on made-up frame times (what the machine would do at each count) and a
    clock that advances by each frame's time."""

    def __init__(self, governor_most: int = 2) -> None:
        self.applied: list[int] = []
        self.now = 0.0
        self.governor = ThreadGovernor(governor_most, self.applied.append,
                                       clock=lambda: self.now)

    def run(self, frames: int, ms_at: dict[int, float]) -> list[int]:
        counts = []
        for _ in range(frames):
            count = self.governor.probing or self.governor.count
            counts.append(count)
            self.now += ms_at[count] / 1e3
            self.governor.frame(ms_at[count])
        return counts


QUIET = {1: 53.0, 2: 26.0}  # FastFusion 640x512 on the 2-core EPYC (BENCHMARKS)
LOADED = {1: 53.0, 2: 1500.0}  # one core held by another process


def test_a_quiet_machine_keeps_every_thread_and_probes_rarely():
    sim = _Clock()
    counts = sim.run(4000, QUIET)  # 104 s of frames
    assert sim.governor.count == 2 and sim.governor.changes == 0
    # each failed probe costs one frame at one thread, and the waits double
    assert counts.count(1) <= 8


def test_contention_drops_a_thread_within_a_few_frames_and_stays_there():
    sim = _Clock()
    sim.run(30, QUIET)
    counts = sim.run(400, LOADED)
    # two slow frames (three if a routine probe was under way), then one thread
    assert counts[5:14] == [1] * 9, counts[:20]
    assert sim.governor.count == 1
    stalls = counts[4:].count(2)  # probes back up, each ended after its first frame
    assert stalls <= 6


def test_a_machine_busy_from_the_start_is_found_in_a_few_frames():
    """Every frame is slow from the first (the node started on a loaded computer): no
    change to notice, so the first probe, a few frames in, finds it."""
    sim = _Clock()
    counts = sim.run(60, LOADED)
    assert counts[:2] == [2, 2], counts  # two frames to settle, then the probe
    assert counts[2:37] == [1] * 35, counts  # kept; the next probe is 2 s later
    assert counts[2:].count(2) <= 2, counts  # each one frame long
    assert sim.governor.calibrated
    assert sim.governor.count == 1 and sim.governor.changes == 1


def test_the_threads_come_back_when_the_machine_is_quiet_again():
    sim = _Clock()
    sim.run(30, QUIET)
    sim.run(100, LOADED)
    assert sim.governor.count == 1
    sim.run(4000, QUIET)  # the longest wait between probes is 64 x 2 s
    assert sim.governor.count == 2
    assert sim.applied[-1] == 2  # and torch was told


def test_begin_sets_the_count_on_the_calling_thread():
    sim = _Clock()
    sim.run(100, LOADED)
    assert sim.governor.count == 1
    sim.applied.clear()
    sim.governor.begin()  # e.g. a swapped-in engine warming up on the worker
    assert sim.applied == [1]


def test_one_cpu_never_probes():
    sim = _Clock(governor_most=1)
    assert sim.run(200, {1: 40.0}) == [1] * 200
    assert sim.applied == []


def test_the_warm_up_calibrates_auto_before_the_first_real_frame():
    from fusion_ros.engine import FusionEngine

    engine = FusionEngine('max', threads='auto')
    if engine.governor.most == 1:
        pytest.skip('one usable CPU: nothing to calibrate')
    assert not engine.governor.calibrated
    engine.warmup(32, 24)
    assert engine.governor.calibrated

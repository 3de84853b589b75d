# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures. ROS tests get a private domain and localhost-only discovery."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

# Isolate every ROS participant this test run creates (in-process and child processes), so
# parallel runs on one machine never hear each other. Under pytest-xdist (`make test`) the
# controller draws one base domain, which its workers inherit, and worker N takes base + N:
# two workers' nodes never share a domain (two independent draws could collide).
_XDIST_WORKER = os.environ.get('PYTEST_XDIST_WORKER', '')  # 'gw0', 'gw1', ... in a worker
_XDIST_WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if not _XDIST_WORKER or 'FUSION_ROS_TEST_DOMAIN_BASE' not in os.environ:
    os.environ['FUSION_ROS_TEST_DOMAIN_BASE'] = str(random.SystemRandom().randint(1, 101 - 16))
os.environ['ROS_DOMAIN_ID'] = str(int(os.environ['FUSION_ROS_TEST_DOMAIN_BASE'])
                                  + int(_XDIST_WORKER.removeprefix('gw') or 0) % 16)
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')

# OpenVINO's TBB threads in the test process and the trainer tests' forked loader workers
# later in the same process end in a segfault (a run of test_runtimes then test_trainer, 3 of
# 3 times; ONNX Runtime does not). So `auto` means torch here (set before fusion_ros is
# imported), the tests that load OpenVINO ask for it by name and are marked `openvino`, and
# they run last (pytest_collection_modifyitems below).
os.environ['FUSION_ROS_BACKEND'] = 'torch'

# A suite started in the background of a non-interactive shell (`make test &`, nohup)
# inherits SIGINT ignored, and so would every child it starts: the Ctrl-C tests would then
# see CLIs that rightly ignore Ctrl-C. Children get Python's own SIGINT handling back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Workers share the CPUs: each one's torch/OpenCV get an equal share, so two workers never
# run two OpenMP teams on the same cores (busy-waiting teams slow each other down many times).
if _XDIST_WORKER:
    from fusion_ros.threads import set_thread_count, usable_cpus

    set_thread_count(max(1, usable_cpus() // _XDIST_WORKERS))

SHARED = Path(os.environ.get('FUSION_ROS_SHARED', Path(__file__).parents[1] / '..' / 'shared'))


@pytest.fixture(autouse=True)
def _cpu_threads_restored():
    """A CLI or an engine run in this process sets CPU threads process-wide (``auto``: half
    the usable CPUs); the next test gets the suite's own setting back."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    if torch.get_num_threads() != before[0]:
        torch.set_num_threads(before[0])
    if cv2.getNumThreads() != before[1]:
        cv2.setNumThreads(before[1])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that load OpenVINO into this process run after all others (see above)."""
    items.sort(key=lambda item: item.get_closest_marker('openvino') is not None)


@pytest.fixture(scope='session')
def shared_dir() -> Path:
    """The team's shared data folder; skips the test when it is absent."""
    if not (SHARED / 'README.md').exists():
        pytest.skip(f'shared data not found at {SHARED} (set FUSION_ROS_SHARED)')
    return SHARED.resolve()


@pytest.fixture(scope='session')
def small_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s synthetic 160x128 sequence (60 pairs) as an mcap bag."""
    from fusion_ros.cli.synth import write_synthetic_bag

    path = tmp_path_factory.mktemp('bags') / 'small'
    write_synthetic_bag(path, seconds=3.0, size=(160, 128), seed=3, progress=False)
    return path

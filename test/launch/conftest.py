# SPDX-License-Identifier: Apache-2.0
"""The package as a ROS 2 user has it: colcon-built into a workspace, ``source
install/setup.bash``, then ``ros2 launch`` / ``ros2 run`` / ``ros2 param`` from the real
toolchain (``make tools`` installs it from FUSION_ROS_SHARED/ros2). Skipped without it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fusion_ros.topics import DIAG_TOPIC
from test.bounds import QUIET_S, wait_until

if TYPE_CHECKING:
    from fusion_ros.ros.node_support import TransportLoss

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _need_toolchain() -> None:
    missing = [m for m in ('launch', 'launch_ros', 'launch_pytest', 'ros2cli', 'rclpy')
               if importlib.util.find_spec(m) is None]
    if missing or not (VENV_BIN / 'colcon').exists() or not (VENV_BIN / 'ros2').exists():
        pytest.skip(f'the ROS 2 toolchain is not installed ({missing or "colcon/ros2"}): '
                    '`make tools` installs it from FUSION_ROS_SHARED/ros2')


@dataclass
class Workspace:
    """A colcon workspace with fusion_ros built and installed."""

    root: Path

    @property
    def install(self) -> Path:
        return self.root / 'install'

    def env(self) -> dict[str, str]:
        """The environment after ``source install/setup.bash`` on this run's private ROS
        graph (a copy: callers may change it)."""
        return dict(self._sourced_env)

    @functools.cached_property
    def _sourced_env(self) -> dict[str, str]:  # sourced once per test session
        from fusion_ros.ros.pipeline import isolated_ros_env

        base = isolated_ros_env(int(os.environ['ROS_DOMAIN_ID']))
        base['PATH'] = f'{VENV_BIN}{os.pathsep}{base["PATH"]}'
        # the toolchain's own ament index (ros2cli, launch grammars) lives in the venv
        base['AMENT_PREFIX_PATH'] = sys.prefix
        sourced = subprocess.run(
            ['bash', '-c', f'source {shlex.quote(str(self.install / "setup.bash"))} && env -0'],
            env=base, capture_output=True, check=True).stdout
        return dict(item.split('=', 1) for item in sourced.decode().split('\0') if '=' in item)


@pytest.fixture(scope='session')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """``colcon build`` of this checkout into a temporary workspace (build, install, log)."""
    _need_toolchain()
    root = tmp_path_factory.mktemp('colcon_ws')
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix,
               PATH=f'{VENV_BIN}{os.pathsep}{os.environ["PATH"]}')
    done = subprocess.run(
        [str(VENV_BIN / 'colcon'), '--log-base', str(root / 'log'), 'build',
         '--base-paths', str(REPO), '--build-base', str(root / 'build'),
         '--install-base', str(root / 'install')],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return Workspace(root)


@dataclass
class Heard:
    """Messages a listener received, per topic, and those it missed in transport (gaps in
    the publishers' sequence numbers: a starved listener's queue overwrites frames too)."""

    messages: dict[str, list] = field(default_factory=dict)
    losses: dict[str, TransportLoss] = field(default_factory=dict)

    def __getitem__(self, topic: str) -> list:
        return self.messages.get(topic, [])

    def lost(self, topic: str) -> int:
        return self.losses[topic].lost if topic in self.losses else 0


@contextmanager
def listening(topics: dict[str, type]) -> Iterator[Heard]:
    """Subscribe to ``topics`` (best effort, depth 100) in this process while the body runs.

    Own context and spin thread, no signal handlers: launch_pytest runs test functions off
    the main thread.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions

    from fusion_ros.ros.node_support import TransportLoss

    heard = Heard({t: [] for t in topics}, {t: TransportLoss(from_start=True) for t in topics})
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('launch_test_listener', context=context)
    qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.BEST_EFFORT)
    for topic, msg_type in topics.items():
        node.create_subscription(
            msg_type, topic, heard.losses[topic].counting(heard.messages[topic].append), qos)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield heard
        _drain(heard)
    finally:
        executor.shutdown(timeout_sec=1.0)
        spinner.join(timeout=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def _drain(heard: Heard) -> None:
    """Let a lagging spin thread take what is still queued: it takes one message per topic
    per turn, so a backlog of images trails the small /diagnostics messages. Drained when
    nothing new came for ``QUIET_S``; a listener that keeps hearing ends at ``HANG_S``.
    /diagnostics is left out: a live node publishes it every second, so it never goes quiet
    (counting it made every listener around a running node wait out ``HANG_S``)."""
    data = [t for t in heard.messages if t != DIAG_TOPIC]

    def received() -> int:
        return sum(len(heard.messages[t]) for t in data)

    last, since = -1, time.monotonic()

    def quiet() -> bool:
        nonlocal last, since
        now = received()
        if now != last:
            last, since = now, time.monotonic()
        return time.monotonic() - since >= QUIET_S

    try:
        wait_until(quiet, 'the listener to drain')
    except AssertionError:
        pass  # a stream that never ends is the test's to judge, from what was heard


def run_ros2(ws: Workspace, args: list[str], timeout: float = 120.0,
             topics: dict[str, type] | None = None) -> tuple[subprocess.CompletedProcess, Heard]:
    """Run ``ros2 ARGS`` in the sourced workspace until it ends, listening to ``topics``."""
    with listening(topics or {}) as heard:
        proc = subprocess.Popen(['ros2', *args], env=ws.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        reader.join(timeout=5)
    return subprocess.CompletedProcess(args, code, ''.join(out), ''), heard

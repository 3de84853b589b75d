# SPDX-License-Identifier: Apache-2.0
"""Replay a bag through a fusion node process and record what it publishes.

The fusion node runs as its own process, talking over real DDS: this is the path users run
with ``ros2 bag play`` + ``ros2 launch``, measured end to end (RGB publish to fused receipt).
"""

from __future__ import annotations

import os
import random
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from fusion_ros.bagtools.info import count_pairs
from fusion_ros.defaults import SYNC_QUEUE_SIZE, SYNC_SLOP_S
from fusion_ros.io.bag import BagMessage, cdr_header_stamp, read_bag
from fusion_ros.ros.player import BagPlayer
from fusion_ros.ros.processes import NodeProcess, node_command
from fusion_ros.ros.qos import make_qos
from fusion_ros.ros.recorder import TopicRecorder
from fusion_ros.ros.session import apply_transport_defaults
from fusion_ros.ros.status_board import StatusBoard
from fusion_ros.topics import (
    DAY_TOPIC,
    DIAG_TOPIC,
    FUSED_TOPIC,
    FUSION_OUTPUTS,
    RGB_TOPIC,
    THERMAL_TOPIC,
)

__all__ = ['PipelineReport', 'isolated_ros_env', 'run_pipeline']


def isolated_ros_env(domain_id: int | None = None) -> dict[str, str]:
    """Environment for a private ROS graph: own domain id, localhost-only discovery."""
    env = dict(os.environ)
    if domain_id is None:
        domain_id = random.SystemRandom().randint(1, 101)
    env['ROS_DOMAIN_ID'] = str(domain_id)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    apply_transport_defaults(env)
    env['PYTHONUNBUFFERED'] = '1'
    return env


@dataclass
class PipelineReport:
    """What went in and came out of one replay."""

    published: dict[str, int]
    expected_pairs: int
    fused: int
    latencies_ms: list[float]
    wall_s: float
    node_returncode: int | None
    node_log: str = ''
    day_probability: list[tuple[int, float]] = field(default_factory=list)
    receipts_ns: list[int] = field(default_factory=list)
    node_inference_ms: float | None = None  # the node's own engine time p50 (diagnostics)
    node_stages_ms: dict[str, float] = field(default_factory=dict)  # per stage p50, ditto
    node_counts: dict[str, int] = field(default_factory=dict)  # last diagnostics' counters
    node_values: dict[str, str] = field(default_factory=dict)  # ... and all its values

    @property
    def node_threads(self) -> str:
        """The CPU threads the node ran its model with, as its /diagnostics said."""
        return self.node_values.get('threads', '')

    @property
    def dropped(self) -> int:
        return max(self.expected_pairs - self.fused, 0)

    @property
    def throughput_fps(self) -> float:
        """Fused frames per second over the span from the first to the last receipt."""
        if len(self.receipts_ns) < 2:
            return 0.0
        span = (self.receipts_ns[-1] - self.receipts_ns[0]) / 1e9
        return (len(self.receipts_ns) - 1) / span if span > 0 else 0.0

    def latency_percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float('nan')

    def summary(self) -> dict[str, float | int]:
        return {
            'thermal_in': self.published.get(THERMAL_TOPIC, 0),
            'rgb_in': self.published.get(RGB_TOPIC, 0),
            'pairs_in': self.expected_pairs,
            'fused_out': self.fused,
            'dropped': self.dropped,
            # where the dropped pairs went, by the node's own counters
            'dropped_by_node': self.node_counts.get('dropped', 0),
            'lost_in_transport': sum(self.node_counts.get(f'{name} lost in transport', 0)
                                     for name in ('thermal', 'rgb')),
            'throughput_fps': self.throughput_fps,
            'latency_p50_ms': self.latency_percentile(50),
            'latency_p95_ms': self.latency_percentile(95),
        }


def run_pipeline(
    in_bag: Path,
    out_bag: Path,
    node_args: Sequence[str] = (),
    *,
    slop_s: float = SYNC_SLOP_S,
    queue_size: int = SYNC_QUEUE_SIZE,
    rate: float = 1.0,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 60.0,
    drain_s: float = 3.0,
    drain_limit_s: float = 60.0,
) -> PipelineReport:
    """Start ``fusion_node`` with ``node_args`` (after ``--ros-args``), play ``in_bag``, record.

    ``slop_s`` and ``queue_size`` must be the node's, so the expected pair count is right.
    The caller's process joins the same ROS graph: call this with ``os.environ`` already
    holding ``env`` (see :func:`isolated_ros_env`). After the bag it waits until the node's
    own counters say every pair is settled and every fused frame was recorded or counted
    lost (at most ``drain_limit_s``), so the report's counts are final on a busy machine.
    """
    env = env or isolated_ros_env()
    for key in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE',
                'RMW_IMPLEMENTATION'):
        if key in env:
            os.environ[key] = env[key]
    expected = count_pairs(in_bag, (THERMAL_TOPIC, RGB_TOPIC), slop_s, queue_size)
    proc = NodeProcess('fusion_node', node_command('fusion_ros.ros.fusion_node', [
        '--ros-args', '-p', f'sync.slop:={slop_s}', '-p', f'sync.queue_size:={queue_size}',
        *node_args]), env)
    rclpy.init()
    node = Node('fusion_ros_replay')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    published: dict[str, int] = {}
    rgb_wall: dict[int, int] = {}
    try:
        player = BagPlayer(node, in_bag, make_qos('sensor_data', 10), [THERMAL_TOPIC, RGB_TOPIC],
                           rate=rate)
        player.prepare()
        recorder = TopicRecorder(node, out_bag, FUSION_OUTPUTS, make_qos('reliable', 200),
                                 stamped=[FUSED_TOPIC])
        board = StatusBoard()
        node.create_subscription(DiagnosticArray, DIAG_TOPIC, board.on_diagnostics,
                                 make_qos('reliable', 50))
        spinner.start()
        with recorder:
            _wait_ready(player, recorder, proc, ready_timeout_s)

            def on_publish(msg: BagMessage, wall_ns: int) -> None:
                published[msg.topic] = published.get(msg.topic, 0) + 1
                if msg.topic == RGB_TOPIC:
                    rgb_wall[cdr_header_stamp(msg.raw)] = wall_ns

            start = time.monotonic()
            player.play(on_publish, should_stop=lambda: not proc.running())
            _drain(recorder, board, expected, drain_s, drain_limit_s, alive=proc.running)
            wall_s = time.monotonic() - start
    finally:
        code = proc.stop()
        executor.shutdown(timeout_sec=1.0)
        if spinner.is_alive():
            spinner.join(timeout=2.0)  # see ros.session: a live spin thread aborts the exit
        node.destroy_node()
        rclpy.try_shutdown()
        node_log = proc.output

    fused = recorder.receipts[FUSED_TOPIC]
    latencies = [(recv - rgb_wall[s]) / 1e6 for s, recv in fused if s in rgb_wall]
    day = _float_values(out_bag, DAY_TOPIC)
    stages, counts, values = _node_diagnostics(out_bag)
    return PipelineReport(published, expected, len(fused), latencies, wall_s, code, node_log, day,
                          [recv for _, recv in fused], stages.pop('inference', None), stages,
                          counts, values)


def _wait_ready(player: BagPlayer, recorder: TopicRecorder, proc: NodeProcess,
                timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while player.subscriber_count() < 1 or recorder.publisher_count() < 1:
        if not proc.running():
            raise RuntimeError(f'fusion node exited with code {proc.returncode} before '
                               f'ready:\n{proc.output[-2000:]}')
        if time.monotonic() > deadline:
            raise TimeoutError(f'fusion node did not connect within {timeout_s:.0f} s')
        time.sleep(0.05)
    time.sleep(0.3)  # let discovery settle in both directions


def _drain(recorder: TopicRecorder, board: StatusBoard, expected: int, quiet_s: float,
           limit_s: float, alive: Callable[[], bool]) -> None:
    """Wait until every expected fused frame arrived or none came for ``quiet_s``, and the
    node's last status arrived after the last fused frame and accounts for everything: no
    pair in flight, every fused frame it counted recorded or counted lost. At most
    ``limit_s``: then the report shows what was missing."""
    received = recorder.receipts[FUSED_TOPIC]
    last_n, last_change = -1, time.monotonic()
    deadline = last_change + max(limit_s, quiet_s)
    while time.monotonic() < deadline and alive():
        if len(received) != last_n:
            last_n, last_change = len(received), time.monotonic()
        quiet = len(received) >= expected or time.monotonic() - last_change >= quiet_s
        newer = not received or board.received_at(': fusion') > received[-1][1]
        if quiet and newer and board.find(': fusion') is not None and not board.unaccounted(
                recorder.heard):
            return
        time.sleep(0.05)


def _float_values(bag: Path, topic: str) -> list[tuple[int, float]]:
    # std_msgs/Float32 CDR: 4-byte encapsulation header, then the float
    return [(m.time_ns, struct.unpack_from('<f', m.raw, 4)[0]) for m in read_bag(bag, [topic])]


def _node_diagnostics(bag: Path) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """From the fusion node's diagnostics, in one pass: the last '<name> p50 (ms)' values
    (inference and its stages; latency is measured here, end to end), the counters of its
    last status (pairs, fused, dropped, errors, lost in transport per input, ...) and all
    of that status's values."""
    p50s: dict[str, float] = {}
    counts: dict[str, int] = {}
    values: dict[str, str] = {}
    for m in read_bag(bag, [DIAG_TOPIC]):
        for status in m.decode().status:
            if not status.name.endswith(': fusion'):
                continue
            values = {kv.key: kv.value for kv in status.values}
            counts = {kv.key: int(kv.value) for kv in status.values if kv.value.isdigit()}
            for kv in status.values:
                if kv.key.endswith(' p50 (ms)') and kv.value:
                    p50s[kv.key[:-len(' p50 (ms)')]] = float(kv.value)
    p50s.pop('latency', None)
    return p50s, counts, values

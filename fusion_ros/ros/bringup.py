# SPDX-License-Identifier: Apache-2.0
"""Bring the stack up without ``ros2 launch``: the nodes of :mod:`fusion_ros.launch_plan` as
processes with the same parameter files, an optional bag played into them, an optional
recording of what they publish, signals forwarded, crashes reported.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.qos import QoSProfile

from fusion_ros.errors import ConnectionTimeout
from fusion_ros.launch_plan import NodePlan, ros_arguments
from fusion_ros.resources import share_file
from fusion_ros.ros.node_support import TransportLoss
from fusion_ros.ros.player import BagPlayer
from fusion_ros.ros.processes import NodeProcess, node_command
from fusion_ros.ros.qos import make_qos
from fusion_ros.ros.recorder import TopicRecorder
from fusion_ros.ros.session import apply_transport_defaults, ros_session
from fusion_ros.ros.status_board import StatusBoard
from fusion_ros.topics import (
    DETECTIONS_IMAGE_TOPIC,
    DETECTOR_OUTPUTS,
    DIAG_TOPIC,
    FUSED_TOPIC,
    FUSION_OUTPUTS,
)

__all__ = ['BringupResult', 'run_bringup']


def _ns(topic: str, namespace: str) -> str:
    return f'/{namespace.strip("/")}{topic}' if namespace.strip('/') else topic


@dataclass
class BringupResult:
    """How a bringup ended."""

    exit_codes: dict[str, int | None] = field(default_factory=dict)
    crashed: list[str] = field(default_factory=list)
    played: int = 0
    received: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)  # lost in transport, before recording
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.crashed and all(c == 0 for c in self.exit_codes.values())


def _wait_for_subscribers(player: BagPlayer, topics: Sequence[str], timeout_s: float,
                          stop: threading.Event, procs: Sequence[NodeProcess]) -> bool:
    """Wait until every topic in ``topics`` has a subscriber that has matched the player in
    turn (:meth:`BagPlayer.wait_for_subscribers`); False when stopped or a node died first.

    Raises:
        ConnectionTimeout: one line naming the topics nobody subscribed to, and what the bag
            offers (a node subscribed to raw images while the bag is compressed, say).
    """
    def ended() -> bool:
        return stop.is_set() or any(p.proc.poll() is not None for p in procs)

    if player.wait_for_subscribers(timeout_s, topics, ended):
        return True
    if ended():
        return False
    lonely = [t for t in topics if player.subscriber_count([t]) < 1]
    offered = ', '.join(f'{t} ({m.rsplit("/", 1)[-1]})'
                        for t, m in player.prepared_types().items())
    raise ConnectionTimeout(
        f'nobody subscribed to {", ".join(lonely)} within {timeout_s:.0f} s; the bag '
        f"offers {offered} (check the fusion node's topics.* and transport.* "
        'parameters, or --namespace)')
    return True


class _Listeners:
    """What the bringup hears of the nodes' outputs: a recording, or counters, each with
    the messages lost on the way, and the nodes' statuses. Made before the nodes start, so
    a publisher's first messages are heard or counted lost (``from_start``)."""

    def __init__(self, node, outputs: dict[str, str], record: Path | None,
                 statuses: bool) -> None:
        reliable: QoSProfile = make_qos('reliable', 100)
        self.outputs = outputs
        self.counts = {t: 0 for t in outputs}
        self.losses: dict[str, TransportLoss] = {}
        self.recorder: TopicRecorder | None = None
        self._subs = []
        if record is not None:
            self.recorder = TopicRecorder(node, record, outputs, reliable, from_start=True)
            self.recorder.__enter__()
            self.losses = self.recorder.losses
        else:
            from fusion_ros.ros.msg_types import import_msg_type

            for topic, msgtype in outputs.items():
                self.losses[topic] = TransportLoss(from_start=True)
                self._subs.append(node.create_subscription(
                    import_msg_type(msgtype), topic, self.losses[topic].counting(
                        lambda _m, t=topic: self.counts.__setitem__(t, self.counts[t] + 1)),
                    reliable, raw=True))
        self.board = StatusBoard()
        if statuses:
            from diagnostic_msgs.msg import DiagnosticArray

            node.create_subscription(DiagnosticArray, DIAG_TOPIC, self.board.on_diagnostics,
                                     reliable)

    def count(self, topic: str) -> int:
        if self.recorder is not None:
            return len(self.recorder.receipts[topic])
        return self.counts[topic]

    def heard(self, topic: str) -> int:
        """Messages of ``topic`` received, or known lost on the way."""
        if self.recorder is not None:
            return self.recorder.heard(topic)
        return self.counts[topic] + (self.losses[topic].lost if topic in self.losses else 0)

    def matched(self, topics: Sequence[str]) -> bool:
        """Whether every one of ``topics`` has a publisher this side has matched."""
        if self.recorder is not None:
            return self.recorder.publisher_count(topics) >= 1
        return all(s.get_publisher_count() >= 1 for s in self._subs if s.topic_name in topics)

    def close(self, result: BringupResult) -> None:
        if self.recorder is not None:
            self.recorder.__exit__(None, None, None)
            result.lost = self.recorder.lost()
        else:
            result.lost = {t: loss.lost for t, loss in self.losses.items() if loss.lost}
        result.received = {t: self.count(t) for t in self.outputs}


def run_bringup(
    plans: Sequence[NodePlan],
    *,
    configs: dict[str, Path] | None = None,
    namespace: str = '',
    bag: Path | None = None,
    rate: float = 1.0,
    exit_after_bag: bool = False,
    record: Path | None = None,
    ready_timeout_s: float = 60.0,
    drain_s: float = 3.0,
    drain_limit_s: float = 60.0,
    echo: Callable[[str], None] = print,
    env: dict[str, str] | None = None,
) -> BringupResult:
    """Run the nodes until SIGINT/SIGTERM, a crash, or (``exit_after_bag``) the end of the
    bag plus the outputs draining: no new output but diagnostics for ``drain_s``, and every
    output the nodes' statuses count as published heard (or counted lost in transport), for
    at most ``drain_limit_s`` after the bag. A bag plays once the nodes subscribed to it
    and their main outputs reach the recording."""
    env = dict(os.environ if env is None else env)
    apply_transport_defaults(env)
    for key in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'RMW_IMPLEMENTATION',
                'FASTDDS_DEFAULT_PROFILES_FILE'):
        if key in env:
            os.environ[key] = env[key]
    configs = configs or {}
    result = BringupResult()
    outputs = {_ns(t, namespace) if t != DIAG_TOPIC else t: ty
               for t, ty in {**FUSION_OUTPUTS, **DETECTOR_OUTPUTS}.items()}
    # the outputs the nodes publish for sure (vision_msgs' detections may not exist here)
    detector = any(p.name == 'detector_node' for p in plans)
    main_outputs = [_ns(FUSED_TOPIC, namespace)] + (
        [_ns(DETECTIONS_IMAGE_TOPIC, namespace)] if detector else [])
    # nodes that consume the fused stream: the bag waits for them too, or a slow-starting
    # detector misses the first fused frames before its subscription exists (uncountable)
    consumers = ['detector_node'] if detector else []
    with ros_session('fusion_ros_bringup') as (node, stop):
        listeners = _Listeners(node, outputs, record, statuses=exit_after_bag)
        procs = [NodeProcess(p.name, node_command(p.module, ros_arguments(
            p, str(configs.get(p.name) or share_file(p.config)), namespace)), env, echo)
            for p in plans]
        try:
            _supervise(stop, procs, result, listeners, namespace, bag, rate, exit_after_bag,
                       ready_timeout_s, (drain_s, drain_limit_s), main_outputs, consumers,
                       echo, node)
        finally:
            result.interrupted = stop.is_set()
            for p in reversed(procs):  # consumers first, then all shut down side by side
                p.interrupt()
            for p in reversed(procs):
                code = p.stop()
                result.exit_codes[p.name] = code
    return result


def _supervise(stop, procs, result, listeners, namespace, bag, rate, exit_after_bag,
               ready_timeout_s, drain, main_outputs, consumers, echo, node) -> None:
    try:
        if bag is not None:
            player = _NamespacedPlayer(node, bag, namespace, rate)
            player.prepare()
            images = player.image_topics() or list(player.prepared_types())
            echo(f'[bringup] waiting for the fusion node to subscribe to {images}')
            if _wait_for_subscribers(player, images, ready_timeout_s, stop, procs) and \
                    _wait_until_heard(listeners, main_outputs, ready_timeout_s, stop, procs,
                                      echo) and \
                    _wait_for_consumers(node, consumers, namespace, ready_timeout_s, stop,
                                        procs, echo):
                echo(f'[bringup] playing {bag} at {rate:g}x')
                result.played = player.play(should_stop=lambda: stop.is_set() or any(
                    p.proc.poll() is not None for p in procs))
                echo(f'[bringup] bag done: {result.played} messages')
                if exit_after_bag:
                    # every output, not only fused: the detector's trail the fused frames
                    # (diagnostics never go quiet)
                    data = [t for t in listeners.outputs if t != DIAG_TOPIC]
                    waiting = _drain(lambda: sum(map(listeners.count, data)),
                                     lambda: listeners.board.unaccounted(listeners.heard,
                                                                         namespace),
                                     *drain, stop, procs)
                    if waiting:
                        echo(f'[bringup] stopped waiting after {drain[1]:g} s with outputs '
                             f'still unaccounted: {", ".join(waiting)}')
                    return
        while not stop.is_set() and all(p.proc.poll() is None for p in procs):
            time.sleep(0.1)
    finally:
        for p in procs:
            code = p.proc.poll()
            if code is not None and not stop.is_set():
                result.crashed.append(p.name)
                echo(f'[bringup] {p.name} exited with code {code}; stopping the rest')
        listeners.close(result)


def _wait_until_heard(listeners: _Listeners, topics: Sequence[str], timeout_s: float,
                      stop: threading.Event, procs: Sequence[NodeProcess],
                      echo: Callable[[str], None]) -> bool:
    """Wait until this side has matched the nodes' publishers of ``topics`` (so the first
    outputs are recorded); False when stopped or a node died. A match that never comes is
    said and the bag plays anyway (what is missed is then counted lost)."""
    return _wait_or_play_anyway(
        lambda: '' if listeners.matched(topics) else
        f'no publisher of {", ".join(topics)} matched', timeout_s, stop, procs, echo)


def _wait_for_consumers(node, names: Sequence[str], namespace: str, timeout_s: float,
                        stop: threading.Event, procs: Sequence[NodeProcess],
                        echo: Callable[[str], None]) -> bool:
    """Wait until every node in ``names`` (in ``namespace``) has subscribed to an image
    topic, as the ROS graph shows it (whatever topic its parameters chose); False when
    stopped or a node died. One that never does is said and the bag plays anyway."""
    want_ns = '/' + namespace.strip('/')

    def subscribed(name: str) -> bool:
        try:
            subs = node.get_subscriber_names_and_types_by_node(name, want_ns)
        except Exception:  # noqa: BLE001 - not discovered yet (NodeNameNonExistentError)
            return False
        return any('sensor_msgs/msg/Image' in types for _, types in subs)

    def missing() -> str:
        waiting = [n for n in names if not subscribed(n)]
        return f'{", ".join(waiting)} subscribed to no image topic' if waiting else ''

    return _wait_or_play_anyway(missing, timeout_s, stop, procs, echo)


def _wait_or_play_anyway(missing: Callable[[], str], timeout_s: float, stop: threading.Event,
                         procs: Sequence[NodeProcess], echo: Callable[[str], None]) -> bool:
    """Poll until ``missing()`` says nothing is missing: True; False when stopped or a node
    died; after ``timeout_s`` say what is still missing and return True (play anyway)."""
    deadline = time.monotonic() + timeout_s
    while what := missing():
        if stop.is_set() or any(p.proc.poll() is not None for p in procs):
            return False
        if time.monotonic() > deadline:
            echo(f'[bringup] {what} within {timeout_s:.0f} s; playing anyway')
            return True
        time.sleep(0.05)
    return True


def _drain(count: Callable[[], int], unaccounted: Callable[[], list[str]], quiet_s: float,
           limit_s: float, stop: threading.Event, procs: Sequence[NodeProcess]) -> list[str]:
    """Wait until no new output came for ``quiet_s`` and nothing is ``unaccounted()``, for
    at most ``limit_s``; return what was still unaccounted then (empty when drained).

    Quiet alone is not enough: on a starved machine a slow detector can take longer than
    ``quiet_s`` for one image, and this process may not have taken what already arrived.
    """
    last, since = count(), time.monotonic()
    deadline = since + max(limit_s, quiet_s)
    while not stop.is_set():
        if any(p.proc.poll() is not None for p in procs):
            return []
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        if time.monotonic() - since >= quiet_s:
            waiting = unaccounted()
            if not waiting or time.monotonic() > deadline:
                return waiting
        time.sleep(0.05)
    return []


class _NamespacedPlayer(BagPlayer):
    """A player publishing each bag topic under ``namespace`` (``/ns/thermal/image_raw``)."""

    def __init__(self, node, bag: Path, namespace: str, rate: float) -> None:
        super().__init__(node, bag, make_qos('sensor_data', 10), rate=rate)
        self.namespace = namespace

    def publisher(self, topic: str, msgtype: str) -> object:
        return super().publisher(_ns(topic, self.namespace), msgtype)

# SPDX-License-Identifier: Apache-2.0
"""Offline bag fusion: pair a recording's thermal and RGB frames exactly as the node does,
fuse them as fast as the hardware allows (batched), and write the node's outputs with the
source stamps into a new bag, next to a copy of the inputs.

Output topics (the node's): fused/image_raw and enhanced/image_raw (Image, header of the
RGB frame, log time of the RGB frame), illumination/day_probability (Float32) and
illumination/is_night (Bool, with the node's hysteresis).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusion_ros.bagtools.info import image_pair_topics
from fusion_ros.bagtools.pairs import SyncedPairs
from fusion_ros.engine.engine import FusionEngine, FusionResult
from fusion_ros.errors import BagError, BagWriteError, FusionError
from fusion_ros.io.bag import BagMessage, BagWriter, bag_topics
from fusion_ros.io.stamps import stamp_ns
from fusion_ros.stream.pairing import FusionStream, StreamSettings
from fusion_ros.topics import (
    DAY_TOPIC,
    DETECTIONS_IMAGE_TOPIC,
    DETECTIONS_JSON_TOPIC,
    ENHANCED_TOPIC,
    FUSED_TOPIC,
    NIGHT_TOPIC,
)

__all__ = ['FuseReport', 'detection_writer', 'fuse_bag']


@dataclass
class FuseReport:
    """What an offline fusion read, paired, fused and could not."""

    messages_in: int = 0
    pairs: int = 0
    fused: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (RGB stamp ns, reason)
    time_jumps: int = 0
    wall_s: float = 0.0
    model_ms: float = 0.0
    input_error: str | None = None  # the input bag was damaged; what came before was fused

    @property
    def fps(self) -> float:
        return self.fused / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class _Pair:
    thermal: BagMessage
    rgb: BagMessage


def _decode(m: BagMessage) -> tuple[np.ndarray, Any]:
    return m.image(), m.decoded.header  # one deserialisation: decoded is cached


def _output_encoding(arr: np.ndarray) -> str:
    return 'rgb8' if arr.ndim == 3 else 'mono8'


class _Outputs:
    """Writes one fused pair's outputs (and the detections when a detector is given)."""

    def __init__(self, bag: BagWriter, enhanced: bool,
                 detect: Callable[[np.ndarray, Any, int], list[tuple[str, Any]]] | None,
                 stream: FusionStream) -> None:
        self.bag, self.enhanced, self.detect = bag, enhanced, detect
        self.stream = stream  # day/night with the node's hysteresis
        self.types = bag.types

    def write(self, rgb: BagMessage, header: Any, result: FusionResult) -> None:
        bag, t = self.bag, rgb.time_ns
        stamp = stamp_ns(header.stamp)
        # the bag log time of outputs is the RGB frame's, so playback keeps them in step
        bag.write_msg(FUSED_TOPIC, bag.image_msg(result.fused, _output_encoding(result.fused),
                                                 stamp, header.frame_id), t)
        if self.enhanced and result.enhanced is not None:
            msg = bag.image_msg(result.enhanced, _output_encoding(result.enhanced), stamp,
                                header.frame_id)
            bag.write_msg(ENHANCED_TOPIC, msg, t)
        bag.write_msg(DAY_TOPIC, self.types['std_msgs/msg/Float32'](
            data=float(result.day_probability)), t)
        night = self.stream.is_night(result.day_probability, stamp)
        bag.write_msg(NIGHT_TOPIC, self.types['std_msgs/msg/Bool'](data=bool(night)), t)
        if self.detect is not None:
            for topic, msg in self.detect(result.fused, header, stamp):
                bag.write_msg(topic, msg, t)


def fuse_bag(
    in_bag: Path,
    out_bag: Path,
    engine: FusionEngine,
    *,
    thermal_topic: str | None = None,
    rgb_topic: str | None = None,
    stream: StreamSettings | None = None,
    batch: int = 1,
    copy_inputs: bool = True,
    storage: str = 'mcap',
    version: int = 9,
    detect: Callable[[np.ndarray, Any, int], list[tuple[str, Any]]] | None = None,
    on_message: Callable[[BagMessage], None] | None = None,
    read_ahead: int = 0,
) -> FuseReport:
    """Fuse every synchronised pair of ``in_bag`` into ``out_bag``.

    A frame that cannot be decoded or fused is named in ``report.failed`` (by RGB stamp);
    the others are still written. ``detect(fused, header, stamp)`` may add messages.
    ``stream``: pairing and day/night settings (default: the node's defaults; a node's
    parameters file gives its own: ``StreamSettings.from_params_file``). ``read_ahead``:
    messages a thread reads ahead, so reading the bag overlaps fusion (0: none).

    Raises:
        BagError: the input has no thermal + RGB image topics, or a bag cannot be opened.
    """
    if batch < 1:
        raise BagError(f'batch must be >= 1, got {batch}')
    topics = image_pair_topics(bag_topics(in_bag), thermal_topic, rgb_topic)
    if topics is None:
        raise BagError(f'{in_bag}: no thermal + RGB image topics (looked for '
                       f'{thermal_topic or "/thermal/image_raw[/compressed]"} and '
                       f'{rgb_topic or "/rgb/image_raw[/compressed]"}; see fusion-ros bag info)')
    report = FuseReport()
    pending: list[_Pair] = []
    start = time.perf_counter()
    with BagWriter(Path(out_bag), storage=storage, version=version) as bag:
        fusion_stream = FusionStream(stream)
        outputs = _Outputs(bag, engine.want_enhanced, detect, fusion_stream)

        def each_message(m: BagMessage) -> None:
            if copy_inputs:
                bag.write_raw(m.topic, m.msgtype, m.time_ns, m.raw)
            if on_message is not None:
                on_message(m)

        pairs = SyncedPairs(in_bag, topics, on_message=each_message, stream=fusion_stream,
                            read_ahead=read_ahead)
        try:
            for matched in pairs:
                report.pairs += 1
                pending.append(_Pair(*matched))
                if len(pending) >= batch:
                    _fuse_pending(engine, pending, outputs, report)
        except BagWriteError:
            raise  # the output cannot take more: stop (the writer keeps what it has)
        except BagError as err:  # a damaged input: keep what was read before the damage
            report.input_error = str(err)
        _fuse_pending(engine, pending, outputs, report)
    report.messages_in, report.time_jumps = pairs.messages, pairs.time_jumps
    report.failed += pairs.unstamped
    report.wall_s = time.perf_counter() - start
    return report


def _fuse_pending(engine: FusionEngine, pending: list[_Pair], outputs: _Outputs,
                  report: FuseReport) -> None:
    """Fuse and write the queued pairs; on a failure retry one by one to name the culprit."""
    decoded: list[tuple[_Pair, Any, np.ndarray, np.ndarray]] = []
    for pair in pending:
        try:
            thermal, _ = _decode(pair.thermal)
            rgb, header = _decode(pair.rgb)
            decoded.append((pair, header, thermal, rgb))
        except FusionError as err:
            report.failed.append((pair.rgb.time_ns, str(err)))
    pending.clear()
    if not decoded:
        return
    try:
        results = engine.fuse_batch([(t, v) for _, _, t, v in decoded])
    except FusionError:
        results = []
        for item in decoded:
            try:
                results.append(engine.fuse(item[2], item[3]))
            except FusionError as err:
                report.failed.append((item[0].rgb.time_ns, str(err)))
                results.append(None)
    for (pair, header, _, _), result in zip(decoded, results):
        if result is None:
            continue
        outputs.write(pair.rgb, header, result)
        report.fused += 1
        report.model_ms += result.inference_ms


def detection_writer(detector: Any) -> Callable[[np.ndarray, Any, int], list[tuple[str, Any]]]:
    """A ``detect`` hook for :func:`fuse_bag` writing the detector node's outputs:
    ``detections/image`` (boxes drawn) and ``detections/json``."""
    from fusion_ros.detect import draw_detections
    from fusion_ros.detect.report import detections_json
    from fusion_ros.io.bag import make_image_msg, typestore

    string = typestore().types['std_msgs/msg/String']

    def detect(fused: np.ndarray, header: Any, stamp: int) -> list[tuple[str, Any]]:
        dets = detector.detect(fused)
        drawn = make_image_msg(draw_detections(fused, dets), 'rgb8', stamp, header.frame_id)
        return [(DETECTIONS_IMAGE_TOPIC, drawn),
                (DETECTIONS_JSON_TOPIC, string(data=detections_json(dets, stamp,
                                                                    header.frame_id)))]

    return detect

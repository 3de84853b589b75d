# SPDX-License-Identifier: Apache-2.0
"""What the fusion node reports on /diagnostics: its counters, the recent frames' timings and
the status level, kept apart from the node so the node only converts, calls and publishes."""

from __future__ import annotations

import copy
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus

from fusion_ros.io.stamps import stamp_key
from fusion_ros.registration import RegistrationMonitor
from fusion_ros.ros.node_support import callback_errors_text, per_second

__all__ = ['CameraInfoCache', 'FrameTimes', 'NodeStats', 'counter_values', 'engine_values',
           'engine_log', 'fusion_status', 'night_text', 'registration_values',
           'registration_warning', 'status_values']

CAMERA_INFOS_KEPT = 64  # about 2 s of a 30 Hz camera: the worker is never further behind
# per-frame stages timed into /diagnostics ('<stage> p50 (ms)'), in the order they run
STAGES = ('decode', 'prepare', 'model', 'finish', 'publish', 'registration check')
SILENT_S = 2.0  # an input with no image for this long turns the status WARN


@dataclass
class NodeStats:
    """Counters since activation."""

    thermal_in: int = 0
    rgb_in: int = 0
    pairs: int = 0
    fused: int = 0
    dropped: int = 0
    errors: int = 0
    time_jumps: int = 0
    rate_limited: int = 0  # pairs skipped to honour max_rate
    thermal_lost: int = 0  # images the middleware dropped before the callback saw them
    rgb_lost: int = 0
    no_model: int = 0  # pairs that arrived while no model was loaded
    last_thermal: float = 0.0  # monotonic time of the last message per input
    last_rgb: float = 0.0


class FrameTimes:
    """The last frames' engine time, pair-to-publish latency and per-stage times."""

    def __init__(self, kept: int = 200) -> None:
        self.kept = kept
        self.inference_ms: deque[float] = deque(maxlen=kept)
        self.latency_ms: deque[float] = deque(maxlen=kept)
        self.stage_ms: dict[str, deque[float]] = {name: deque(maxlen=kept) for name in STAGES}

    def add(self, inference_ms: float, latency_ms: float, stages_ms: dict[str, float]) -> None:
        self.inference_ms.append(inference_ms)
        self.latency_ms.append(latency_ms)
        for name, ms in stages_ms.items():
            self.stage_ms.setdefault(name, deque(maxlen=self.kept)).append(ms)

    def values(self) -> dict[str, str]:
        return {'inference p50 (ms)': _percentile(self.inference_ms, 50),
                'latency p50 (ms)': _percentile(self.latency_ms, 50),
                'latency p95 (ms)': _percentile(self.latency_ms, 95),
                **{f'{name} p50 (ms)': _percentile(ms, 50) for name, ms in self.stage_ms.items()}}


class CameraInfoCache:
    """Recent CameraInfo messages of the RGB camera by stamp, and the frames still waiting
    for theirs. A frame's info is the one with its stamp (drivers stamp both alike); on a
    busy machine the worker can publish a frame before its info's callback ran, so the info
    is then sent when it arrives. A frame whose own info has not come by the time a newer
    one does (a driver that stamps them apart) gets the newest, as does one newer than every
    info received once the newest is newer than it. Thread-safe: infos come from the
    executor, frames from the worker."""

    def __init__(self) -> None:
        self.latest: Any = None
        self._by_stamp: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._waiting: OrderedDict[tuple[int, int], list[tuple[Any, Callable[[Any], None]]]] = (
            OrderedDict())
        self._lock = threading.Lock()

    def add(self, msg: Any) -> None:
        """Keep ``msg`` and send it to the frames that waited for it (or for any newer)."""
        key = stamp_key(msg.header.stamp)
        with self._lock:
            self.latest = msg
            self._by_stamp[key] = msg
            while len(self._by_stamp) > CAMERA_INFOS_KEPT:
                self._by_stamp.popitem(last=False)
            due = [k for k in self._waiting if k <= key]
            sends = [w for k in due for w in self._waiting.pop(k)]
        for header, publish in sends:
            publish(_with_header(msg, header))

    def deliver(self, header: Any, publish: Callable[[Any], None]) -> None:
        """``publish`` a copy of the info for the frame of ``header``, carrying that header:
        now when it is here (or a newer one is), else when one with this stamp or newer
        arrives; frames waiting beyond :data:`CAMERA_INFOS_KEPT` get none (no camera info
        at all, or far behind)."""
        key = stamp_key(header.stamp)
        with self._lock:
            info = self._by_stamp.get(key)
            if info is None and self.latest is not None \
                    and stamp_key(self.latest.header.stamp) >= key:
                info = self.latest
            if info is None:
                self._waiting.setdefault(key, []).append((header, publish))
                while len(self._waiting) > CAMERA_INFOS_KEPT:
                    self._waiting.popitem(last=False)
                return
        publish(_with_header(info, header))

    def clear(self) -> None:
        with self._lock:
            self.latest = None
            self._by_stamp.clear()
            self._waiting.clear()


def _with_header(info: Any, header: Any) -> Any:
    out = copy.copy(info)
    out.header = header
    return out


def fusion_status(stats: NodeStats, prev: NodeStats, now: float, *, loaded: bool,
                  load_error: str | None, warming: bool, registration: RegistrationMonitor
                  ) -> tuple[bytes, str]:
    """The status level and message: no model (ERROR), every frame of the last report
    failing (ERROR), warming up (OK, says so), an input silent (WARN), images lost in
    transport (WARN), a registration score that fell (WARN), else fusing."""
    silent = [name for name, last in (('thermal', stats.last_thermal), ('rgb', stats.last_rgb))
              if now - last > SILENT_S]
    lost_now = [f'{n} {name}' for name, n in (('thermal', stats.thermal_lost - prev.thermal_lost),
                                              ('rgb', stats.rgb_lost - prev.rgb_lost)) if n]
    if not loaded:
        return DiagnosticStatus.ERROR, f'no model loaded: {load_error}'
    if stats.errors > prev.errors and stats.fused == prev.fused:
        return DiagnosticStatus.ERROR, 'every frame of the last second failed'
    if warming:
        return DiagnosticStatus.OK, 'warming up the model; subscribing when warm'
    if silent:
        return DiagnosticStatus.WARN, f'no {" and no ".join(silent)} images for 2 s'
    if lost_now:
        return DiagnosticStatus.WARN, (f'{" and ".join(lost_now)} images lost in transport '
                                       'since the last report')
    if registration.dropped:
        return DiagnosticStatus.WARN, (f'registration score fell from {registration.start:.3f}'
                                       f' to {registration.current:.3f} (camera moved?)')
    return DiagnosticStatus.OK, 'fusing'


def counter_values(stats: NodeStats) -> dict[str, str]:
    # the frames taken per input: those the synchronizer could not pair (no partner within
    # sync.slop, or pushed out of a short sync.queue_size first) are what they leave beyond
    # 'pairs', so no frame goes uncounted
    return {'thermal in': str(stats.thermal_in), 'rgb in': str(stats.rgb_in),
            'pairs': str(stats.pairs), 'fused': str(stats.fused),
            'dropped': str(stats.dropped), 'errors': str(stats.errors),
            'time jumps': str(stats.time_jumps),
            'thermal lost in transport': str(stats.thermal_lost),
            'rgb lost in transport': str(stats.rgb_lost),
            'skipped for max_rate': str(stats.rate_limited),
            'unfused (no model)': str(stats.no_model),
            'pairing ratio': (f'{stats.pairs / min(stats.thermal_in, stats.rgb_in):.3f}'
                              if min(stats.thermal_in, stats.rgb_in) else '')}


def engine_values(engine: Any) -> dict[str, str]:
    """Where and how the model runs ('' for each while no model is loaded)."""
    if engine is None:
        return dict.fromkeys(('device', 'precision', 'compiled', 'backend', 'threads'), '')
    return {'device': str(engine.device), 'precision': engine.resolved.describe(),
            'compiled': str(engine.compiled).lower(), 'backend': engine.runtime,
            'threads': engine.threads_text}


def night_text(night: bool | None) -> str:
    return 'unknown' if night is None else ('night' if night else 'day')


def registration_values(monitor: RegistrationMonitor) -> dict[str, str]:
    return {'registration score': _score(monitor.current),
            'registration score at start': _score(monitor.start)}


def _score(value: float | None) -> str:
    return '' if value is None else f'{value:.3f}'


def _percentile(values: deque[float], q: float) -> str:
    # list() copies under the GIL: the worker may append meanwhile
    data = list(values)
    return f'{float(np.percentile(data, q)):.1f}' if data else ''


def status_values(stats: NodeStats, prev: NodeStats, span: float, *,
                  callback_errors: Counter[str], ready: bool, model: str, engine: Any,
                  night: bool | None, times: FrameTimes,
                  registration: RegistrationMonitor) -> dict[str, str]:
    """The fusion node's /diagnostics key-values: rates over the last report window,
    counters, readiness, the model and engine, day/night, timings, registration."""
    return {
        'thermal rate (Hz)': per_second(stats.thermal_in, prev.thermal_in, span),
        'rgb rate (Hz)': per_second(stats.rgb_in, prev.rgb_in, span),
        'fused rate (Hz)': per_second(stats.fused, prev.fused, span),
        **counter_values(stats),
        'callback errors': callback_errors_text(callback_errors),
        'ready': str(ready).lower(),
        'model': model,
        **engine_values(engine),
        'illumination': night_text(night),
        **times.values(),
        **registration_values(registration),
    }


def registration_warning(monitor: RegistrationMonitor) -> str:
    """The warning logged once when the registration score falls."""
    return (f'registration score fell from {monitor.start:.3f} to {monitor.current:.3f}: '
            'thermal and RGB no longer line up (a camera moved?); re-run '
            '"fusion-ros register" and set registration.homography')


def engine_log(engine: Any, what: str) -> list[tuple[str, str]]:
    """(logger level, text) lines saying which engine now serves, and its notes."""
    lines = [('info', f'{what} {engine.describe()} ({engine.model.num_params()} params, '
                      f'{engine.threads_text} CPU threads)')]
    if engine.compile_error:
        lines.append(('warning', engine.compile_error))
    if engine.backend_note:
        lines.append(('info', engine.backend_note))
    return lines

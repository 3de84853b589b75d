# SPDX-License-Identifier: Apache-2.0
"""Fusion node: synchronised thermal + RGB in, fused image and illumination out.

Subscribes (``topics.*``, QoS per input ``qos.thermal.*`` / ``qos.rgb.*``):
    thermal/image_raw (sensor_msgs/Image): mono8, mono16, 16UC1, 8UC1 or 32FC1; warped by
        ``registration.homography`` onto the RGB image before fusion.
    rgb/image_raw (sensor_msgs/Image): rgb8, bgr8, rgba8, bgra8 or mono8.
Publishes:
    fused/image_raw (sensor_msgs/Image): rgb8 when the visible input is colour, else mono8;
        header (stamp, frame_id) of the source RGB frame.
    enhanced/image_raw (sensor_msgs/Image): low-light-enhanced visible image (the model's
        enhancement head, else a weight-free gamma lift), when ``publish_enhanced``.
    illumination/day_probability (std_msgs/Float32): probability the RGB frame is daylit.
    illumination/is_night (std_msgs/Bool): day/night state with hysteresis
        (``illumination.*`` thresholds and minimum dwell, on the image stamps).
    /diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz): input rates, frames taken per
        input (those beyond the pairs found no partner), pairs, fused, drops,
        images lost in transport per input (gaps in the publisher's sequence numbers: a
        starved node's queue overflowed), errors, model, device, illumination state; WARN
        when an input goes silent for 2 s or loses images.

Setting ``model``, ``weights``, ``device`` or ``precision`` at run time builds the new engine
first and swaps it in between frames; a value that cannot run is rejected with the reason
and the old model keeps serving. ``illumination.*`` apply at once; the other parameters at
the next configure.

Pairs are made with message_filters' ApproximateTimeSynchronizer semantics (``sync.slop``,
``sync.queue_size``). Inference runs in a worker thread off the callbacks; at most one pair
waits and a newer pair replaces it (a counted drop), so latency stays bounded. A bad frame
is logged once per cause (then throttled) and skipped; the node keeps serving.
"""

from __future__ import annotations

import signal as _signal

from fusion_ros.ros.quiet_start import leave_quietly_on_interrupt

if __name__ == '__main__':  # run as a child of a launch: Ctrl-C while importing
    leave_quietly_on_interrupt()

import time
from collections import Counter
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from fusion_ros.engine import FusionEngine
from fusion_ros.errors import FusionError
from fusion_ros.io.image_msg import decode_image
from fusion_ros.io.stamps import stamp_ns
from fusion_ros.registration import RegistrationMonitor, parse_homography
from fusion_ros.ros import fusion_params
from fusion_ros.ros import fusion_report as report
from fusion_ros.ros.fusion_outputs import FusionOutputs
from fusion_ros.ros.fusion_params import PARAMS, FusionNodeConfig, make_engine, plan_change
from fusion_ros.ros.node_support import (
    ReportWindow,
    ThrottledLog,
    TransportLoss,
    diagnostic_array,
    guarded,
    image_subscription,
    lost_text,
    run_node,
    serve_slot,
)
from fusion_ros.ros.params import declare_params, read_params
from fusion_ros.ros.qos import make_qos
from fusion_ros.ros.warm_start import EngineWarmer, WarmStart
from fusion_ros.stream.pairing import FusionStream
from fusion_ros.stream.slot import LatestSlot, MaxRate
from fusion_ros.topics import DIAG_TOPIC, camera_info_topic

# how long a stop or a destroy waits for the inference thread to finish its frame: a light
# model's frame takes milliseconds; a heavy one's seconds on a CPU, and a stop must not
_WORKER_JOIN_S = 2.0


def _transition_failed(err: BaseException) -> TransitionCallbackReturn:
    return TransitionCallbackReturn.FAILURE


def _change_failed(err: BaseException) -> SetParametersResult:
    return SetParametersResult(successful=False, reason=f'internal error: {err!r}')


class FusionNode(LifecycleNode):
    """Lifecycle node fusing thermal and RGB streams (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('fusion_node', **kwargs)
        declare_params(self, PARAMS)
        self.config: FusionNodeConfig | None = None
        self.engine: FusionEngine | None = None
        self.load_error: str | None = None  # why the configured model did not load
        self.stats = report.NodeStats()
        self._subs: list[Any] = []
        self._lost = {'thermal': TransportLoss(), 'rgb': TransportLoss()}
        self._out: FusionOutputs | None = None  # the output publishers, from configure on
        self._pub_diag: Any = None
        self._camera_infos = report.CameraInfoCache()  # the RGB camera's, republished with outputs
        self._diag_timer: Any = None
        self._window = ReportWindow(report.NodeStats)
        self._registration = RegistrationMonitor(every=0)  # set up at configure
        # pairing and day/night, as bag fuse runs them (fusion_ros.stream)
        self._stream: FusionStream | None = None
        self._times = report.FrameTimes()  # engine time, latency and where a frame's time goes
        self._max_rate = MaxRate()  # the max_rate parameter's gate
        self._slot: LatestSlot[tuple[Image, Image, float]] = LatestSlot()
        self._start: WarmStart | None = None  # this activation's inference thread
        self._log = ThrottledLog(self)
        # warm-up runs on the worker (cuDNN/cuBLAS state is per thread), once per engine
        self._warmer = EngineWarmer(lambda text: self._log.warn('warmup', text))
        self.callback_errors: Counter[str] = Counter()  # by cause, see node_support.guarded
        self.add_on_set_parameters_callback(self._on_set_params)

    # lifecycle -------------------------------------------------------------------------
    @guarded('lifecycle', _transition_failed)
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            cfg = FusionNodeConfig.from_params(read_params(self, PARAMS))
            stream = FusionStream(cfg.stream, on_pair=self.image_pair_cb,
                                  on_jump=self._on_time_jump)
        except FusionError as err:
            self.get_logger().error(f'configuration failed: {err}')
            return TransitionCallbackReturn.FAILURE
        try:
            # a missing or broken checkpoint must not take the node down: it stays up with an
            # ERROR diagnostic, counts the pairs it cannot fuse, and loads the model as soon
            # as the 'model' or 'weights' parameter is fixed
            engine, self.load_error = fusion_params.engine_or_reason(cfg)
            if self.load_error:
                self.get_logger().error(f'model failed to load: {self.load_error}; fix the '
                                        'model/weights parameter to start fusing')
        except FusionError as err:
            self.get_logger().error(f'configuration failed: {err}')
            return TransitionCallbackReturn.FAILURE
        self.config, self.engine, self._stream = cfg, engine, stream
        self._registration = RegistrationMonitor(cfg.check_every, warn_ratio=cfg.warn_ratio)
        self._out = FusionOutputs(self, cfg)
        self._pub_diag = self.create_lifecycle_publisher(DiagnosticArray, DIAG_TOPIC, 10)
        if engine is not None:
            self._log_engine(engine, 'model')
            self.get_logger().info(f'pairing {cfg.sync_policy}: slop {cfg.slop}s, '
                                   f'queue {cfg.queue_size}')
        return TransitionCallbackReturn.SUCCESS

    @guarded('lifecycle', _transition_failed)
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.config is not None
        self.stats = report.NodeStats()
        if self._stream is not None:
            self._stream.reset()
        self._slot = LatestSlot()
        self._lost = {'thermal': TransportLoss(), 'rgb': TransportLoss()}
        # the worker warms the model up and then subscribes, so the first frames are neither
        # slow nor dropped while it warms, and the transition does not wait for it (a slow
        # model on a CPU takes seconds): /diagnostics says 'warming up' meanwhile
        self._start = WarmStart(lambda: self._warmer.warm(self.engine), self._subscribe,
                                self._serve, 'fusion_worker', self._worker_failed).start()
        self._window.restart()
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        return super().on_activate(state)

    @property
    def warming(self) -> bool:
        """Active and still warming up: not subscribed yet."""
        return self._start is not None and self._start.warming

    def _subscribe(self) -> None:
        """Subscribe to the inputs (the worker, once warm; see WarmStart)."""
        cfg = self.config
        assert cfg is not None
        self._subs = [
            self._image_subscription(cfg.thermal_topic, cfg.thermal_transport, 'thermal',
                                     self.thermal_cb, cfg.qos_thermal),
            self._image_subscription(cfg.rgb_topic, cfg.rgb_transport, 'rgb', self.rgb_cb,
                                     cfg.qos_rgb),
            # the RGB camera's CameraInfo, republished with fused and enhanced frames
            self.create_subscription(CameraInfo, camera_info_topic(cfg.rgb_topic),
                                     self.camera_info_cb, make_qos(*cfg.qos_rgb)),
        ]
        self.get_logger().info('warm: subscribed to the inputs')

    def _image_subscription(self, topic: str, transport: str, name: str, callback: Any,
                            qos: tuple[str, int]) -> Any:
        receive = self._lost[name].counting(
            callback, lambda missed: self._on_transport_loss(name, missed, qos[1]))
        return image_subscription(self, topic, transport, make_qos(*qos), receive)

    @guarded('subscription')
    def _on_transport_loss(self, name: str, missed: int, depth: int) -> None:
        total = getattr(self.stats, f'{name}_lost') + missed
        setattr(self.stats, f'{name}_lost', total)
        self._log.warn(f'{name} lost', lost_text(f'{name} image', missed, total,
                                                 f'qos.{name}.depth', depth))

    @guarded('lifecycle', _transition_failed)
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        return super().on_deactivate(state)

    @guarded('lifecycle', _transition_failed)
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        if self._out is not None:
            self._out.destroy()
        if self._pub_diag is not None:
            self.destroy_lifecycle_publisher(self._pub_diag)
        self._out = self._pub_diag = None
        self._camera_infos.clear()
        self.engine = self.config = self._stream = None
        return TransitionCallbackReturn.SUCCESS

    @guarded('lifecycle', _transition_failed)
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        if self._start is not None:  # a warm-up still running never subscribes now
            self._start.cancel()
        self._end_worker()  # destroyed without a deactivation
        super().destroy_node()

    def _stop(self) -> None:
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._start is not None:  # a warm-up still running never subscribes now
            self._start.cancel()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._end_worker()
        if self._stream is not None:
            self._stream.reset()

    def _end_worker(self) -> None:
        """Close the slot (the worker ends) and wait, bounded, for the frame in flight: it
        ends before the publishers go."""
        self._slot.close()
        if self._start is not None:
            self._start.join(_WORKER_JOIN_S)
            self._start = None

    # run-time parameter changes ------------------------------------------------------------
    @guarded('parameter', _change_failed)
    def _on_set_params(self, params: list[Parameter]) -> SetParametersResult:
        if self.config is None:  # not configured: values are read at configure
            return SetParametersResult(successful=True)
        values = {**read_params(self, PARAMS), **{p.name: p.value for p in params}}
        try:
            change = plan_change(self.config, values)
            engine = make_engine(change.engine_config) if change.new_engine else self.engine
        except FusionError as err:
            self.get_logger().warning(f'parameter change rejected: {err}')
            return SetParametersResult(successful=False, reason=str(err))
        cfg = change.config
        if change.new_homography and engine is not None:
            engine.homography = parse_homography(cfg.homography)  # takes effect next frame
        if change.new_monitor:  # a new homography: the start-up score no longer applies
            self._registration = RegistrationMonitor(cfg.check_every, warn_ratio=cfg.warn_ratio)
        if change.new_engine:
            self.engine, self.load_error = engine, None  # the worker takes it with the next pair
            self._log_engine(engine, 'switched to model')
        if self._stream is not None:
            self._stream.set_illumination(cfg.night_threshold, cfg.day_threshold,
                                          cfg.min_dwell_s)
        self.config = cfg
        return SetParametersResult(successful=True)

    def _log_engine(self, engine: FusionEngine, what: str) -> None:
        for level, text in report.engine_log(engine, what):
            getattr(self.get_logger(), level)(text)

    # callbacks -------------------------------------------------------------------------
    @guarded('subscription')
    def thermal_cb(self, msg: Image) -> None:
        self.stats.thermal_in += 1
        self.stats.last_thermal = time.monotonic()
        self._add(0, msg)

    @guarded('subscription')
    def rgb_cb(self, msg: Image) -> None:
        self.stats.rgb_in += 1
        self.stats.last_rgb = time.monotonic()
        self._add(1, msg)

    @guarded('subscription')
    def camera_info_cb(self, msg: CameraInfo) -> None:
        self._camera_infos.add(msg)

    def _add(self, index: int, msg: Image) -> None:
        if self._stream is not None:
            self._stream.add(index, stamp_ns(msg.header.stamp), msg)

    def _on_time_jump(self, stamp: int) -> None:
        self.stats.time_jumps += 1
        self.get_logger().warning(f'stamps jumped back to {stamp / 1e9:.3f} s: '
                                  'synchronizer reset')

    def image_pair_cb(self, thermal: Image, rgb: Image) -> None:
        self.stats.pairs += 1
        max_rate = self.config.max_rate if self.config is not None else 0.0
        if not self._max_rate.allow(max_rate, time.monotonic()):
            self.stats.rate_limited += 1
            return
        if self._slot.put((thermal, rgb, time.monotonic())):
            self.stats.dropped += 1

    # worker ----------------------------------------------------------------------------
    def _serve(self) -> None:
        serve_slot(self._slot, lambda pair: self._fuse_and_publish(*pair), self._on_error,
                   'frame')

    def _worker_failed(self, err: Exception) -> None:
        if self.context.ok():  # after Ctrl-C the context is gone: subscribing fails, quietly
            self._on_error('worker', f'the inference thread stopped: {err!r}')

    def _on_error(self, cause: str, text: str) -> None:
        self.stats.errors += 1
        self._log.warn(cause, f'{text} ({self.stats.errors} errors so far)')

    def _fuse_and_publish(self, thermal_msg: Image, rgb_msg: Image, paired_at: float) -> None:
        engine = self.engine
        if engine is None:
            self.stats.no_model += 1  # counted and reported, never silently lost
            return
        t_start = time.perf_counter()
        thermal, visible = decode_image(thermal_msg), decode_image(rgb_msg)
        t_decoded = time.perf_counter()
        self._warmer.before_frame(engine, visible.shape[1], visible.shape[0])  # a new engine
        result = engine.fuse(thermal, visible, enhanced=self._out.wants_enhanced())
        t_fused = time.perf_counter()
        night = None
        if self._stream is not None:
            night = self._stream.is_night(result.day_probability, stamp_ns(rgb_msg.header.stamp))
        self._out.publish(result, rgb_msg.header, night, self._camera_infos)
        self.stats.fused += 1
        latency_ms = (time.monotonic() - paired_at) * 1e3
        t_published = time.perf_counter()
        stages = {'decode': t_decoded - t_start, 'publish': t_published - t_fused}
        if self._check_registration(engine, thermal, visible):
            stages['registration check'] = time.perf_counter() - t_published
        self._times.add(result.inference_ms, latency_ms,
                        {**{k: v * 1e3 for k, v in stages.items()}, **result.stages_ms})

    def _check_registration(self, engine: FusionEngine, thermal: np.ndarray,
                            visible: np.ndarray) -> bool:
        """Every N-th frame (after publishing: off the latency path), score the registration;
        WARN once when the score falls. True when this frame was scored."""
        scored = self._registration.check_frame(thermal, visible, engine.homography)
        if scored and self._registration.newly_dropped():
            self.get_logger().warning(report.registration_warning(self._registration))
        return scored

    # diagnostics -----------------------------------------------------------------------
    @guarded('timer')
    def _publish_diagnostics(self) -> None:
        if self._pub_diag is None:
            return
        stats = self.stats
        prev, span = self._window.advance(stats)
        level, text = report.fusion_status(stats, prev, time.monotonic(),
                                    loaded=self.engine is not None, load_error=self.load_error,
                                    warming=self.warming, registration=self._registration)
        values = report.status_values(
            stats, prev, span, callback_errors=self.callback_errors,
            ready=not self.warming and bool(self._subs),
            model=self.config.model if self.config else '', engine=self.engine,
            night=self._stream.night if self._stream else None, times=self._times,
            registration=self._registration)
        self._pub_diag.publish(diagnostic_array(self, level, f'{self.get_name()}: fusion', text,
                                                values['device'], values))


def _start(node: FusionNode) -> int:
    """``autostart``: configure and activate; exit 1 when configure fails (not a Ctrl-C)."""
    if not node.get_parameter('autostart').value:
        return 0
    if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()
        return 0
    return 1 if rclpy.ok() else 0


def _exit(node: FusionNode) -> None:
    node._stop()
    # print, not the logger: after Ctrl-C the context (and /rosout) is already gone
    print(f'[fusion_node] stats at exit: {node.stats}', flush=True)


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM."""
    return run_node(FusionNode, args, start=_start, stop=_exit)


if __name__ == '__main__':
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # imports done: main decides
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
    raise SystemExit(main())

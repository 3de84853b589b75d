# SPDX-License-Identifier: Apache-2.0
"""The fusion node's parameters: one table (``PARAMS``: name, default, description, range)
and the validated values built from it (``FusionNodeConfig``). Every default comes from
``fusion_ros.defaults`` or the table, never from a second copy."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fusion_ros.defaults import (
    DAY_THRESHOLD,
    DEFAULT_PRECISION,
    MIN_DWELL_S,
    NIGHT_THRESHOLD,
    REGISTRATION_CHECK_EVERY,
    REGISTRATION_WARN_RATIO,
    SYNC_POLICY,
    SYNC_QUEUE_SIZE,
    SYNC_SLOP_S,
    THERMAL_AGC,
)
from fusion_ros.engine import DEFAULT_MODEL, FusionEngine
from fusion_ros.errors import ConfigError, ModelNotFoundError, WeightsError
from fusion_ros.registration import IDENTITY, parse_homography
from fusion_ros.ros.params import ParamSpec
from fusion_ros.ros.qos import check_reliability
from fusion_ros.stream.pairing import StreamSettings
from fusion_ros.topics import RGB_TOPIC, THERMAL_TOPIC, relative

__all__ = ['ENGINE_FIELDS', 'LIVE_FIELDS', 'PARAMS', 'TRANSPORTS', 'FusionNodeConfig',
           'ParamChange', 'engine_or_reason', 'make_engine', 'plan_change']

PARAMS = (
    ParamSpec('model', DEFAULT_MODEL, 'Fusion model registry name (`fusion-ros models`).'),
    ParamSpec('weights', '', 'Checkpoint path; empty: the shipped weights, or none needed.'),
    ParamSpec('device', 'auto', 'auto (CUDA when available), cpu or cuda[:N].'),
    ParamSpec('precision', DEFAULT_PRECISION, 'auto (bf16 + channels_last on CPUs with AMX '
              'and on recent GPUs, fp16 on older GPUs, where the model gains; else fp32), '
              'fp32, fp16 (CUDA only) or bf16.'),
    ParamSpec('backend', 'auto', 'What runs the network: torch, or the network '
              'exported to ONNX (cached, built while configuring) run by openvino or '
              'onnxruntime; auto: openvino for the heavy models (PIAFusion, DIDFuse, DFVO up '
              'to 640x512) on CPUs, torch otherwise.'),
    ParamSpec('threads', 0, 'CPU threads for the model (torch, OpenCV, the runtime); 0: auto, '
              'every CPU this process may use, and fewer while other processes keep them '
              'busy (fusion_ros.threads). Process-wide, set at start.',
              (0, 1024), read_only=True),
    ParamSpec('compile', False, 'Run the network through torch.compile (compiled while '
              'configuring; runs eager with a logged reason where it cannot work).'),
    ParamSpec('topics.thermal', relative(THERMAL_TOPIC), 'Thermal image topic (relative names '
              'follow the namespace).', read_only=True),
    ParamSpec('topics.rgb', relative(RGB_TOPIC), 'RGB image topic.', read_only=True),
    ParamSpec('transport.thermal', 'raw', 'raw (sensor_msgs/Image on topics.thermal) or '
              'compressed (sensor_msgs/CompressedImage, JPEG or 16-bit PNG, on '
              'topics.thermal + /compressed), as image_transport.', read_only=True),
    ParamSpec('transport.rgb', 'raw', 'raw or compressed, as transport.thermal.',
              read_only=True),
    ParamSpec('publish_compressed', False, 'Also publish fused/image_raw/compressed (JPEG) '
              'while someone subscribes to it, for viewing over Wi-Fi.'),
    ParamSpec('jpeg_quality', 80, 'JPEG quality of fused/image_raw/compressed.', (1, 100)),
    ParamSpec('sync.slop', SYNC_SLOP_S, 'Largest stamp difference within a pair, seconds '
              '(message_filters ApproximateTime semantics).', (0.0, 10.0)),
    ParamSpec('sync.queue_size', SYNC_QUEUE_SIZE, 'Messages kept per input while waiting '
              'for a partner.', (1, 10000)),
    ParamSpec('sync.policy', SYNC_POLICY, 'approximate (message_filters ApproximateTime) '
              'or nearest (each thermal frame with its nearest RGB frame within the slop: '
              'for a slow thermal camera beside a fast RGB one).', read_only=True),
    ParamSpec('qos.thermal.reliability', 'best_effort', 'Thermal subscription: best_effort '
              '(hears every publisher) or reliable (hears only reliable ones).'),
    ParamSpec('qos.thermal.depth', 5, 'Thermal subscription history depth.', (1, 1000)),
    ParamSpec('qos.rgb.reliability', 'best_effort', 'RGB subscription reliability.'),
    ParamSpec('qos.rgb.depth', 5, 'RGB subscription history depth.', (1, 1000)),
    ParamSpec('qos.output.reliability', 'reliable', 'Reliability of every publisher.'),
    ParamSpec('qos.output.depth', 5, 'History depth of every publisher.', (1, 1000)),
    ParamSpec('thermal.agc', list(THERMAL_AGC), 'Percentiles (low, high) of the gain control '
              'applied to 16-bit and float thermal images.'),
    ParamSpec('registration.homography', list(IDENTITY), '3x3 thermal-to-RGB homography, '
              'row-major, applied to every thermal frame before fusion (identity: none).'),
    ParamSpec('registration.check_every', REGISTRATION_CHECK_EVERY, 'Score the edge '
              'agreement of warped thermal and RGB every N-th fused frame for /diagnostics '
              '(0: never).', (0, 100000)),
    ParamSpec('registration.warn_ratio', REGISTRATION_WARN_RATIO, 'WARN when the score falls '
              'below this share of its start-up value (a bumped camera).', (0.01, 0.99)),
    ParamSpec('max_rate', 0.0, 'Most fused frames per second; pairs beyond are skipped and '
              'counted (0: as fast as pairs come).', (0.0, 1000.0)),
    ParamSpec('publish_enhanced', True, 'Publish enhanced/image_raw (costs a second colour '
              'conversion per frame).'),
    ParamSpec('illumination.night_threshold', NIGHT_THRESHOLD, 'P(day) below which night '
              'starts to count.', (0.0, 1.0)),
    ParamSpec('illumination.day_threshold', DAY_THRESHOLD, 'P(day) above which day starts '
              'to count.', (0.0, 1.0)),
    ParamSpec('illumination.min_dwell_s', MIN_DWELL_S, 'Seconds (image time) a new state '
              'must hold before is_night switches.', (0.0, 3600.0)),
    ParamSpec('autostart', True, 'Configure and activate at start-up; false: wait for '
              'lifecycle transitions.', read_only=True),
)


TRANSPORTS = ('raw', 'compressed')  # image_transport's names


@dataclass(frozen=True)
class FusionNodeConfig:
    """Validated parameter values; built only by :meth:`from_params`, so every default is
    the one in ``PARAMS`` (which takes them from ``fusion_ros.defaults``)."""

    model: str
    weights: str
    device: str
    precision: str
    slop: float
    queue_size: int
    sync_policy: str
    thermal_topic: str
    rgb_topic: str
    thermal_transport: str
    rgb_transport: str
    qos_thermal: tuple[str, int]
    qos_rgb: tuple[str, int]
    qos_output: tuple[str, int]
    thermal_agc: tuple[float, float]
    homography: tuple[float, ...]
    check_every: int
    warn_ratio: float
    max_rate: float
    publish_enhanced: bool
    night_threshold: float
    day_threshold: float
    min_dwell_s: float
    compile: bool
    backend: str
    threads: int
    publish_compressed: bool
    jpeg_quality: int

    @property
    def stream(self) -> StreamSettings:
        """Pairing and day/night settings, as ``bag fuse --params-file`` reads them."""
        return StreamSettings(self.slop, self.queue_size, self.sync_policy,
                              self.night_threshold, self.day_threshold, self.min_dwell_s)

    @classmethod
    def from_params(cls, values: dict[str, Any]) -> FusionNodeConfig:
        agc = tuple(float(v) for v in values['thermal.agc'])
        if len(agc) != 2:
            raise ConfigError(f'thermal.agc must be [low, high], got {list(agc)!r}')
        homography = tuple(float(v) for v in values['registration.homography'])
        parse_homography(homography)  # raises with the reason

        def transport(name: str) -> str:
            value = values[f'transport.{name}']
            if value not in TRANSPORTS:
                raise ConfigError(f'transport.{name} = {value!r}; use one of {TRANSPORTS}')
            return value

        def qos(name: str) -> tuple[str, int]:
            param = f'qos.{name}.reliability'
            reliability = check_reliability(param, values[param])
            return reliability, int(values[f'qos.{name}.depth'])

        return cls(
            model=values['model'],
            weights=values['weights'],
            device=values['device'],
            precision=values['precision'],
            backend=values['backend'],
            slop=float(values['sync.slop']),
            queue_size=int(values['sync.queue_size']),
            sync_policy=values['sync.policy'],
            thermal_topic=values['topics.thermal'],
            rgb_topic=values['topics.rgb'],
            thermal_transport=transport('thermal'),
            rgb_transport=transport('rgb'),
            qos_thermal=qos('thermal'),
            qos_rgb=qos('rgb'),
            qos_output=qos('output'),
            thermal_agc=(agc[0], agc[1]),
            homography=homography,
            check_every=int(values['registration.check_every']),
            warn_ratio=float(values['registration.warn_ratio']),
            max_rate=float(values['max_rate']),
            publish_enhanced=bool(values['publish_enhanced']),
            compile=bool(values['compile']),
            threads=int(values['threads']),
            publish_compressed=bool(values['publish_compressed']),
            jpeg_quality=int(values['jpeg_quality']),
            night_threshold=float(values['illumination.night_threshold']),
            day_threshold=float(values['illumination.day_threshold']),
            min_dwell_s=float(values['illumination.min_dwell_s']),
        )


# config fields whose change at run time builds a new engine (swapped in between frames)
ENGINE_FIELDS = ('model', 'weights', 'device', 'precision', 'compile', 'backend')
# the fields a parameter change applies at once; the others wait for the next configure
LIVE_FIELDS = (*ENGINE_FIELDS, 'night_threshold', 'day_threshold', 'min_dwell_s',
               'homography', 'check_every', 'warn_ratio', 'max_rate')


def make_engine(cfg: FusionNodeConfig) -> FusionEngine:
    """The engine ``cfg`` asks for; the node's worker warms it up (on its own thread)."""
    return FusionEngine(cfg.model, weights=cfg.weights or None, device=cfg.device,
                        precision=cfg.precision, thermal_agc=cfg.thermal_agc,
                        compile=cfg.compile, backend=cfg.backend,
                        threads=cfg.threads,  # 0: auto
                        enhanced=cfg.publish_enhanced, homography=cfg.homography)


def engine_or_reason(cfg: FusionNodeConfig) -> tuple[FusionEngine | None, str | None]:
    """The engine, or None and why when its checkpoint or model name is bad (a node stays
    up and waits for a fixed parameter); other configuration errors raise."""
    try:
        return make_engine(cfg), None
    except (WeightsError, ModelNotFoundError) as err:
        return None, str(err)


@dataclass(frozen=True)
class ParamChange:
    """What a run-time parameter change does to a running node (see :func:`plan_change`).

    config: the node's values after the change (the live fields changed, the rest as
        configured); engine_config: what a new engine is built from.
    new_engine: an engine field changed (build one, swap it in between frames);
    new_homography: the running engine only needs the new warp;
    new_monitor: the registration watch starts over (a new warp or new settings).
    """

    config: FusionNodeConfig
    engine_config: FusionNodeConfig
    new_engine: bool
    new_homography: bool
    new_monitor: bool


def plan_change(old: FusionNodeConfig, values: dict[str, Any]) -> ParamChange:
    """Validate the parameter ``values`` (all of them, the changed ones included) against
    the running ``old`` config, building nothing.

    Raises:
        ConfigError: a value is invalid (the node rejects the change, nothing changes).
    """
    new = FusionNodeConfig.from_params(values)
    new.stream.check()  # before building an engine for nothing
    swap = any(getattr(new, k) != getattr(old, k) for k in ENGINE_FIELDS)
    watch = ('homography', 'check_every', 'warn_ratio')
    return ParamChange(
        config=replace(old, **{k: getattr(new, k) for k in LIVE_FIELDS}),
        engine_config=replace(new, publish_enhanced=old.publish_enhanced),
        new_engine=swap, new_homography=not swap and new.homography != old.homography,
        new_monitor=any(getattr(new, k) != getattr(old, k) for k in watch))

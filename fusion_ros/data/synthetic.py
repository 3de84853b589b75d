# SPDX-License-Identifier: Apache-2.0
"""Synthetic paired thermal + RGB sequence: a street going from day through dusk to night.

A warm pedestrian walks along the pavement; a car drives through, its headlights glaring in
the RGB image once it is dark. Both cameras see the same geometry (registered), with their
own physics: RGB is reflected light under a fading sun plus street lamps, with auto-exposure
that amplifies noise at night; thermal is emitted heat, blurred by the optics, with fixed
pattern and temporal noise. Stamps get independent jitter per camera. Deterministic for a
seed. Everything is vectorised NumPy/OpenCV: about 10 ms a 640x512 frame pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from fusion_ros.errors import ConfigError

__all__ = ['Box', 'SynthConfig', 'SynthFrame', 'frame_label', 'generate_sequence',
           'ground_truth']

START_NS = 1_767_290_400 * 1_000_000_000  # 2026-01-01 18:00 UTC: dusk in the story


@dataclass(frozen=True)
class SynthConfig:
    """Sequence parameters.

    Attributes:
        width: image width in pixels (>= 64).
        height: image height in pixels (>= 64).
        fps: frame rate of both cameras.
        seconds: duration.
        seed: random seed; the same seed gives the same sequence.
        jitter_ms: standard deviation of each camera's stamp jitter (clipped at 2.5 sigma).
        drop_rate: probability that a camera loses a frame (each camera on its own); the
            frame is still yielded, flagged ``thermal_dropped`` / ``rgb_dropped``.
        thermal_16bit: thermal as ``mono16`` raw counts (14-bit range around 7,000-9,500,
            as radiometric cores deliver) instead of ``mono8``.
        thermal_offset: (dx, dy, scale) misregistration of the thermal camera: the thermal
            image is what the RGB camera sees moved by (dx, dy) pixels and scaled about the
            centre; :attr:`homography` maps thermal pixels back onto the RGB image.
    """

    width: int = 640
    height: int = 512
    fps: float = 20.0
    seconds: float = 10.0
    seed: int = 0
    jitter_ms: float = 2.0
    drop_rate: float = 0.0
    thermal_16bit: bool = False
    thermal_offset: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f'drop_rate must be in [0, 1), got {self.drop_rate!r}')
        if not self.thermal_offset[2] > 0:
            raise ConfigError(f'thermal_offset scale must be > 0, got {self.thermal_offset!r}')
        if self.width < 64 or self.height < 64:
            raise ConfigError(f'size must be at least 64x64, got {self.width}x{self.height}')
        if not (0 < self.fps <= 1000):
            raise ConfigError(f'fps must be in (0, 1000], got {self.fps!r}')
        if not self.seconds > 0:
            raise ConfigError(f'seconds must be > 0, got {self.seconds!r}')
        if self.jitter_ms < 0:
            raise ConfigError(f'jitter_ms must be >= 0, got {self.jitter_ms!r}')

    @property
    def num_frames(self) -> int:
        return max(1, int(round(self.seconds * self.fps)))

    @property
    def homography(self) -> np.ndarray:
        """3x3 thermal-to-RGB homography that undoes ``thermal_offset`` (identity if none)."""
        dx, dy, scale = self.thermal_offset
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        # thermal = S(rgb - c) + c + d  =>  rgb = (thermal - c - d) / s + c
        to_thermal = np.array([[scale, 0.0, (1 - scale) * cx + dx],
                               [0.0, scale, (1 - scale) * cy + dy],
                               [0.0, 0.0, 1.0]])
        return np.linalg.inv(to_thermal)


@dataclass(frozen=True)
class Box:
    """Ground-truth box in pixels (top-left corner, size)."""

    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass
class SynthFrame:
    """One registered frame pair.

    Attributes:
        thermal: ``mono8`` :math:`(H, W)` (``mono16`` with ``thermal_16bit``).
        rgb: ``rgb8`` :math:`(H, W, 3)`.
        ambient: daylight level in [0, 1] (1 = full day).
    """

    index: int
    thermal: np.ndarray
    rgb: np.ndarray
    thermal_stamp_ns: int
    rgb_stamp_ns: int
    ambient: float
    is_night: bool
    boxes: list[Box] = field(default_factory=list)
    thermal_dropped: bool = False
    rgb_dropped: bool = False


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def daylight(phase: float) -> float:
    """Ambient light over the sequence: day until 30 %, dusk to 60 %, then night."""
    return 1.0 - 0.96 * _smoothstep((phase - 0.3) / 0.3)


class _Scene:
    """Static layers of the street, computed once per sequence."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator) -> None:
        w, h = cfg.width, cfg.height
        self.w, self.h = w, h
        self.horizon = int(0.45 * h)
        ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]

        albedo = np.empty((h, w, 3), np.float32)
        heat = np.empty((h, w), np.float32)
        # sky: blue gradient, cold
        sky = ys < 0.45
        albedo[:] = np.array([0.45, 0.62, 0.92], np.float32)
        albedo += (ys / 0.45 * 0.25)[..., None] * np.array([1.0, 0.8, 0.3], np.float32)
        heat[:] = 0.08 + 0.06 * ys
        # ground: asphalt road in perspective between pavements
        ground = ~sky
        depth = np.clip((ys - 0.45) / 0.55, 0.0, 1.0)
        half_road = 0.05 + 0.45 * depth
        road = ground & (np.abs(xs - 0.5) < half_road)
        pavement = ground & ~road
        texture = self._texture(rng, h, w)
        albedo[road] = 0.0
        albedo += road[..., None] * (0.33 + 0.06 * texture)[..., None]
        albedo[pavement] = np.array([0.55, 0.52, 0.48], np.float32)
        albedo[pavement] *= (0.9 + 0.2 * texture[pavement])[:, None]
        heat[road] = 0.50 + 0.04 * texture[road]
        heat[pavement] = 0.42 + 0.03 * texture[pavement]
        # lane dashes
        lanes = road & (np.abs(xs - 0.5) < 0.004 + 0.01 * depth) & (
            np.sin(depth * 40.0 / (0.2 + depth)) > 0.2
        )
        albedo[lanes] = 0.9
        heat[lanes] -= 0.03
        # buildings with windows on the horizon
        self.windows = np.zeros((h, w), np.float32)
        x = 0
        while x < w:
            bw = int(rng.integers(w // 12, w // 6))
            top = int(self.horizon - rng.integers(h // 10, h // 3))
            colour = rng.uniform(0.25, 0.6, 3).astype(np.float32)
            albedo[top:self.horizon, x:x + bw] = colour * (0.9 + 0.2 * texture[top:self.horizon,
                                                                                 x:x + bw, None])
            heat[top:self.horizon, x:x + bw] = rng.uniform(0.35, 0.45)
            for wy in range(top + 6, self.horizon - 10, 16):
                for wx in range(x + 5, x + bw - 10, 14):
                    if rng.random() < 0.45:
                        self.windows[wy:wy + 8, wx:wx + 7] = 1.0
            x += bw + int(rng.integers(0, w // 20))
        heat += 0.06 * self.windows
        self.albedo = albedo
        self.heat = heat
        # street lamps: light pools on the pavement, glowing heads
        self.lamp_light = np.zeros((h, w), np.float32)
        self.lamp_heads = np.zeros((h, w), np.float32)
        for lx in (0.12, 0.88):
            cx, cy = int(lx * w), int(0.8 * h)
            g = np.exp(-(((xs * w - cx) / (0.16 * w)) ** 2 + ((ys * h - cy) / (0.12 * h)) ** 2))
            self.lamp_light += g.astype(np.float32)
            hx, hy = int(lx * w), int(0.3 * h)
            cv2.circle(self.lamp_heads, (hx, hy), max(2, w // 120), 1.0, -1)
            cv2.line(self.albedo, (hx, hy), (hx, int(0.85 * h)), (0.2, 0.2, 0.2), max(1, w // 200))
        self.glare = self._glare_kernel(max(8, w // 8))
        self.fpn = (rng.standard_normal(w).astype(np.float32) * 0.006)[None, :]

    @staticmethod
    def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        coarse = rng.standard_normal((max(2, h // 16), max(2, w // 16))).astype(np.float32)
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)

    @staticmethod
    def _glare_kernel(radius: int) -> np.ndarray:
        r = np.arange(-radius, radius + 1, dtype=np.float32)
        d2 = r[:, None] ** 2 + r[None, :] ** 2
        core = np.exp(-d2 / (2 * (radius / 10) ** 2))
        halo = 0.35 * np.exp(-d2 / (2 * (radius / 3) ** 2))
        streak = 0.25 * np.exp(-(r[:, None] ** 2) / 4.0) * np.exp(-np.abs(r[None, :]) / radius)
        return (4.0 * core + halo + streak).astype(np.float32)


def _add_clipped(dst: np.ndarray, kernel: np.ndarray, cx: int, cy: int, gain: float) -> None:
    """dst[cy-r:cy+r+1, cx-r:cx+r+1] += gain * kernel, clipped at the borders."""
    r = kernel.shape[0] // 2
    h, w = dst.shape[:2]
    x0, x1, y0, y1 = max(cx - r, 0), min(cx + r + 1, w), max(cy - r, 0), min(cy + r + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    patch = kernel[y0 - cy + r:y1 - cy + r, x0 - cx + r:x1 - cx + r] * gain
    if dst.ndim == 3:
        dst[y0:y1, x0:x1] += patch[..., None] * np.array([1.0, 0.97, 0.85], np.float32)
    else:
        dst[y0:y1, x0:x1] += patch


def _pedestrian(mask: np.ndarray, x: float, foot_y: float, height: float, phase: float) -> Box:
    """Draw a walking person (labels 1 = skin, 2 = clothing) and return its box."""
    hh = height
    head_r = max(2, int(0.07 * hh))
    cx = int(x)
    top = int(foot_y - hh)
    cv2.circle(mask, (cx, top + head_r), head_r, 1, -1)
    torso_top, hip = top + 2 * head_r, int(foot_y - 0.47 * hh)
    half_w = max(2, int(0.12 * hh))
    cv2.rectangle(mask, (cx - half_w, torso_top), (cx + half_w, hip), 2, -1)
    swing = 0.18 * hh * np.sin(phase)
    thick = max(2, int(0.07 * hh))
    for s in (swing, -swing):
        cv2.line(mask, (cx, hip), (int(cx + s), int(foot_y)), 2, thick)
        cv2.line(mask, (cx, torso_top + thick), (int(cx - 0.7 * s), hip), 2, max(1, thick - 1))
    return Box('person', cx - max(half_w, abs(swing)) - thick, top,
               2 * (max(half_w, abs(swing)) + thick), hh)


def _car(mask: np.ndarray, x: float, base_y: float, length: float) -> tuple[Box, list[tuple]]:
    """Draw a car facing left (labels 3 body, 4 windows, 5 tyres, 6 hood) and return box, lamps."""
    lx, ly = int(x), int(base_y)
    height = 0.42 * length
    body_top = int(ly - 0.65 * height)
    cv2.rectangle(mask, (lx, body_top), (int(lx + length), int(ly - 0.15 * height)), 3, -1)
    cabin = np.array([[lx + 0.22 * length, body_top], [lx + 0.32 * length, ly - height],
                      [lx + 0.75 * length, ly - height], [lx + 0.85 * length, body_top]], np.int32)
    cv2.fillPoly(mask, [cabin], 4)
    cv2.rectangle(mask, (lx, body_top), (int(lx + 0.22 * length), int(ly - 0.3 * height)), 6, -1)
    r = max(2, int(0.12 * length))
    for wx in (0.2, 0.8):
        cv2.circle(mask, (int(lx + wx * length), int(ly - r)), r, 5, -1)
    lamp = (lx + 2, int(ly - 0.45 * height))
    return Box('car', lx, ly - height, length, height), [lamp]


# label -> (RGB albedo, heat)
_OBJECTS = {
    1: ((0.75, 0.55, 0.45), 0.92),  # skin
    2: ((0.12, 0.12, 0.16), 0.82),  # dark clothing, warm body underneath
    3: ((0.55, 0.08, 0.08), 0.50),  # car body
    4: ((0.08, 0.1, 0.12), 0.40),  # windows
    5: ((0.05, 0.05, 0.05), 0.70),  # tyres, warm from the road
    6: ((0.55, 0.08, 0.08), 0.78),  # hood over the engine
}


def generate_sequence(cfg: SynthConfig | None = None) -> Iterator[SynthFrame]:
    """Yield the frames of a day-to-night sequence.

    Example:
        >>> frame = next(generate_sequence(SynthConfig(width=96, height=64, seconds=0.1)))
        >>> frame.thermal.shape, frame.rgb.shape
        ((64, 96), (64, 96, 3))
    """
    cfg = cfg or SynthConfig()
    rng = np.random.default_rng(cfg.seed)
    scene = _Scene(cfg, rng)
    w, h, n = cfg.width, cfg.height, cfg.num_frames
    period_ns = 1e9 / cfg.fps
    clip = 2.5 * cfg.jitter_ms * 1e6
    lut_r, lut_h = np.zeros((7, 3), np.float32), np.zeros(7, np.float32)
    for label, (colour, heat) in _OBJECTS.items():
        lut_r[label], lut_h[label] = colour, heat
    mask = np.zeros((h, w), np.uint8)
    for k in range(n):
        phase = k / max(n - 1, 1)
        ambient = daylight(phase)
        lamps_on = _smoothstep((0.7 - ambient) / 0.3)
        mask[:] = 0
        boxes = [_pedestrian(mask, (0.08 + 0.84 * phase) * w, 0.86 * h, 0.3 * h, k * 0.6)]
        lamps = []
        if 0.4 <= phase <= 0.98:
            t = (phase - 0.4) / 0.58
            car_box, lamps = _car(mask, (1.05 - 1.5 * t) * w, 0.7 * h, 0.3 * w)
            boxes.append(car_box)
        objects = mask > 0

        # RGB: reflected sun (warmer at dusk) + lamp pools, plus emitters
        sun = ambient * np.array([1.0, 0.92 + 0.08 * ambient, 0.8 + 0.2 * ambient], np.float32)
        albedo = np.where(objects[..., None], lut_r[mask], scene.albedo)
        light = sun + (0.5 * lamps_on * scene.lamp_light)[..., None]
        rgb = albedo * light
        rgb += (lamps_on * (0.9 * scene.windows + 3.0 * scene.lamp_heads))[..., None]
        for lx, ly in lamps:
            _add_clipped(rgb, scene.glare, lx, ly, 0.4 + 2.6 * lamps_on)
        # auto-exposure: gain up to 3x at night, amplifying shot and read noise
        gain = float(np.clip(0.45 / max(ambient, 1e-3), 1.0, 3.0))
        rgb *= gain
        noise_sigma = np.sqrt(np.maximum(rgb, 0.0) * 0.0004 * gain) + 0.004 * gain
        rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * noise_sigma
        rgb_u8 = (np.clip(rgb, 0.0, 1.0) ** (1 / 1.3) * 255.0 + 0.5).astype(np.uint8)

        # thermal: emitted heat, blurred optics, fixed pattern + temporal noise
        heat = np.where(objects, lut_h[mask], scene.heat)
        heat = heat - 0.05 * (1.0 - ambient) * (~objects)  # the street cools after sunset
        heat = cv2.GaussianBlur(heat, (0, 0), max(0.6, w / 600))
        heat += scene.fpn + rng.standard_normal(heat.shape, dtype=np.float32) * 0.012
        if cfg.thermal_offset != (0.0, 0.0, 1.0):
            heat = cv2.warpPerspective(heat, np.linalg.inv(cfg.homography), (w, h),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if cfg.thermal_16bit:
            thermal = (7000.0 + np.clip(heat, 0.0, 1.0) * 2500.0 + 0.5).astype(np.uint16)
        else:
            thermal = (np.clip(heat, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

        nominal = START_NS + int(round(k * period_ns))
        jitter = np.clip(rng.standard_normal(2) * cfg.jitter_ms * 1e6, -clip, clip)
        drops = rng.random(2) < cfg.drop_rate if cfg.drop_rate > 0 else (False, False)
        yield SynthFrame(
            index=k,
            thermal=thermal,
            rgb=rgb_u8,
            thermal_stamp_ns=nominal + int(jitter[0]),
            rgb_stamp_ns=nominal + int(jitter[1]),
            ambient=ambient,
            is_night=ambient < 0.3,
            boxes=boxes,
            thermal_dropped=bool(drops[0]),
            rgb_dropped=bool(drops[1]),
        )


def frame_label(f: SynthFrame) -> dict:
    """JSON-ready labels of one frame (everything but the pixels)."""
    return {
        'index': f.index,
        'thermal_stamp_ns': f.thermal_stamp_ns,
        'rgb_stamp_ns': f.rgb_stamp_ns,
        'ambient': round(f.ambient, 4),
        'is_night': f.is_night,
        'thermal_dropped': f.thermal_dropped,
        'rgb_dropped': f.rgb_dropped,
        'boxes': [{'label': b.label, 'x': round(float(b.x), 2), 'y': round(float(b.y), 2),
                   'w': round(float(b.w), 2), 'h': round(float(b.h), 2)} for b in f.boxes],
    }


def ground_truth(cfg: SynthConfig, labels: list[dict]) -> dict:
    """The ``ground_truth.json`` document of a sequence from its :func:`frame_label` s."""
    return {
        'size': [cfg.width, cfg.height],
        'fps': cfg.fps,
        'thermal_encoding': 'mono16' if cfg.thermal_16bit else 'mono8',
        'homography': cfg.homography.round(9).tolist(),
        'frames': labels,
    }

# SPDX-License-Identifier: Apache-2.0
"""Dataset folders -> rosbag2 with thermal and RGB Image (or CompressedImage) + CameraInfo.

Stamps: video datasets (KAIST) keep their frame numbering at ``rate_hz`` (a gap in the file
numbers stays a gap in time) and each video starts one second after the previous one ends;
stills are spaced ``1 / rate_hz`` apart. Both cameras of a pair share the stamp (the
datasets are registered, captured together). With ``compress``, a source file already in
that format is stored byte for byte (no second JPEG loss); others are encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion_ros.errors import ConfigError, FusionError
from fusion_ros.io.bag import BagWriter
from fusion_ros.io.datasets import PairListing, PairRecord
from fusion_ros.io.image_files import read_image, read_thermal
from fusion_ros.topics import (
    RGB_FRAME,
    RGB_INFO_TOPIC,
    RGB_TOPIC,
    THERMAL_FRAME,
    THERMAL_INFO_TOPIC,
    THERMAL_TOPIC,
    compressed,
)

__all__ = ['COMPRESSIONS', 'ConvertReport', 'convert_listing', 'pair_stamps']

COMPRESSIONS = {'jpeg': ('.jpg', '.jpeg'), 'png': ('.png',)}
DEFAULT_START_NS = 1_767_290_400 * 1_000_000_000  # 2026-01-01 18:00 UTC


@dataclass
class ConvertReport:
    """What a conversion wrote and what it could not."""

    pairs: int = 0
    messages: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    first_ns: int | None = None
    last_ns: int | None = None


def pair_stamps(listing: PairListing, rate_hz: float, start_ns: int = DEFAULT_START_NS
                ) -> list[int]:
    """Stamp of every pair of ``listing`` in order (see the module docstring)."""
    if not rate_hz > 0:
        raise ConfigError(f'rate must be > 0 Hz, got {rate_hz!r}')
    period = 1e9 / rate_hz
    if not listing.video:
        return [start_ns + int(round(i * period)) for i in range(len(listing.pairs))]
    stamps: list[int] = []
    offset, first_frame, sequence = start_ns, 0, None
    for rec in listing.pairs:
        if rec.sequence != sequence:
            if stamps:  # next video: one second after the previous frame
                offset = stamps[-1] + 1_000_000_000
            sequence, first_frame = rec.sequence, rec.frame
        stamps.append(offset + int(round((rec.frame - first_frame) * period)))
    return stamps


def _encoding(img: np.ndarray, thermal: bool) -> str:
    if img.ndim == 3:
        return 'rgb8'
    if img.dtype == np.uint16:
        return 'mono16'
    if img.dtype == np.uint8:
        return 'mono8'
    raise ConfigError(f'unsupported {"thermal" if thermal else "visible"} pixel type {img.dtype}')


def _compressed_bytes(path: Path, img: np.ndarray, fmt: str) -> bytes:
    """The source file itself when it already is ``fmt``; else ``img`` encoded as ``fmt``."""
    if path.suffix.lower() in COMPRESSIONS[fmt] and img.dtype == np.uint8:
        return path.read_bytes()
    if fmt == 'jpeg' and img.dtype != np.uint8:
        raise ConfigError(f'{path.name}: JPEG is 8-bit only, this image is {img.dtype}; '
                          'use --compress png')
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', bgr)
    if not ok:
        raise ConfigError(f'{path.name}: OpenCV could not encode it as {fmt}')
    return buf.tobytes()


def _format_string(img: np.ndarray, fmt: str) -> str:
    # compressed_image_transport's convention: "<original encoding>; <fmt> compressed <enc>"
    enc = _encoding(img, thermal=False)
    return f'{enc}; {fmt} compressed {"bgr8" if img.ndim == 3 else enc}'


def _camera_msgs(bag: BagWriter, topic: str, info_topic: str, frame: str, path: Path,
                 img: np.ndarray, stamp: int, compress: str | None) -> list[tuple[str, Any]]:
    """(topic, message) of one camera's image and CameraInfo; built before anything is
    written, so a pair that fails half way leaves nothing behind."""
    if compress is None:
        image = (topic, bag.image_msg(img, _encoding(img, topic == THERMAL_TOPIC), stamp, frame))
    else:
        image = (compressed(topic), bag.compressed_msg(_compressed_bytes(path, img, compress),
                                                       _format_string(img, compress), stamp,
                                                       frame))
    return [image, (info_topic, bag.camera_info_msg(img.shape[1], img.shape[0], stamp, frame))]


def convert_listing(
    listing: PairListing,
    out_bag: Path,
    *,
    rate_hz: float = 20.0,
    compress: str | None = None,
    storage: str = 'mcap',
    version: int = 9,
    start_ns: int = DEFAULT_START_NS,
    on_pair: Callable[[PairRecord], None] | None = None,
) -> ConvertReport:
    """Write every pair of ``listing`` into ``out_bag``.

    A pair whose files cannot be read, or whose thermal and visible sizes differ, is skipped
    and named in the report (with the listing's unmatched files); the rest is written.

    Raises:
        ConfigError: bad rate or compression; BagError: the bag cannot be written.
    """
    if compress is not None and compress not in COMPRESSIONS:
        raise ConfigError(f'compression must be one of {sorted(COMPRESSIONS)}, got {compress!r}')
    if version not in (8, 9):
        raise ConfigError(f'bag metadata version must be 8 (Humble) or 9, got {version!r}')
    stamps = pair_stamps(listing, rate_hz, start_ns)
    report = ConvertReport(skipped=list(listing.unmatched))
    with BagWriter(Path(out_bag), storage=storage, version=version) as bag:
        for rec, stamp in zip(listing.pairs, stamps):
            try:
                thermal, rgb = read_thermal(rec.thermal), read_image(rec.rgb)
                if thermal.shape[:2] != rgb.shape[:2]:
                    raise ConfigError(f'thermal {thermal.shape[1]}x{thermal.shape[0]} and '
                                      f'visible {rgb.shape[1]}x{rgb.shape[0]} differ in size')
                msgs = _camera_msgs(bag, THERMAL_TOPIC, THERMAL_INFO_TOPIC, THERMAL_FRAME,
                                    rec.thermal, thermal, stamp, compress)
                msgs += _camera_msgs(bag, RGB_TOPIC, RGB_INFO_TOPIC, RGB_FRAME, rec.rgb, rgb,
                                     stamp, compress)
            except FusionError as err:
                report.skipped.append((rec.name, str(err)))
                continue
            finally:
                if on_pair is not None:
                    on_pair(rec)
            for topic, msg in msgs:
                bag.write_msg(topic, msg, stamp)
            report.pairs += 1
            report.first_ns = stamp if report.first_ns is None else report.first_ns
            report.last_ns = stamp
        report.messages = bag.count
    return report

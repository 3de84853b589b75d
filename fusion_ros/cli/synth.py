# SPDX-License-Identifier: Apache-2.0
"""Write a synthetic day-to-night thermal + RGB sequence as a rosbag2.

Topics: /thermal/image_raw (mono8, or mono16 raw counts with --thermal-16bit; frame
thermal_camera) and /rgb/image_raw (rgb8, frame rgb_camera), 20 Hz, each camera with its own
stamp jitter. A warm pedestrian walks by; a car's headlights glare in the RGB image at night.
Deterministic for a seed.

OUT_BAG/ground_truth.json holds, per frame, both stamps, the day/night label, the
pedestrian and car boxes (RGB pixels), which camera dropped the frame (--drop-rate), and
the thermal-to-RGB homography that undoes --thermal-offset (give it to the node's
registration.homography).

Example:
    fusion-ros synth night.mcap_bag --seconds 10 --size 640x512
    ros2 bag play night.mcap_bag
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fusion_ros.cli._args import positive_float, size
from fusion_ros.topics import RGB_FRAME, RGB_TOPIC, THERMAL_FRAME, THERMAL_TOPIC

GROUND_TRUTH_FILE = 'ground_truth.json'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('out_bag', type=Path, help='output rosbag2 directory (must not exist)')
    parser.add_argument('--seconds', type=positive_float, default=10.0,
                        help='duration (default: %(default)s)')
    parser.add_argument('--fps', type=positive_float, default=20.0,
                        help='frame rate of both cameras (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--size', type=size, default=(640, 512), metavar='WxH',
                        help='image size (default: 640x512)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                        help='rosbag2 storage (default: mcap)')
    parser.add_argument('--jitter-ms', type=float, default=2.0,
                        help="std. dev. of each camera's stamp jitter (default: %(default)s)")
    parser.add_argument('--drop-rate', type=float, default=0.0,
                        help='probability that a camera drops a frame (default: 0)')
    parser.add_argument('--thermal-16bit', action='store_true',
                        help='thermal as mono16 raw counts (as radiometric cameras)')
    parser.add_argument('--thermal-offset', type=_offset, default=(0.0, 0.0, 1.0),
                        metavar='DX,DY[,SCALE]',
                        help='misregister the thermal camera by a shift (and scale)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing bag at OUT_BAG')


def _offset(text: str) -> tuple[float, float, float]:
    try:
        values = [float(v) for v in text.split(',')]
    except ValueError:
        values = []
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f'expected DX,DY or DX,DY,SCALE, got {text!r}')
    return (values[0], values[1], values[2] if len(values) == 3 else 1.0)


def write_synthetic_bag(
    out_bag: Path,
    *,
    seconds: float = 10.0,
    fps: float = 20.0,
    seed: int = 0,
    size: tuple[int, int] = (640, 512),
    storage: str = 'mcap',
    progress: bool = True,
    **options: Any,
) -> int:
    """Generate the sequence into ``out_bag`` (``options``: more :class:`SynthConfig`
    fields) and its ``ground_truth.json``; return the number of frame pairs."""
    from tqdm import tqdm

    from fusion_ros.data.synthetic import SynthConfig, frame_label, generate_sequence, ground_truth
    from fusion_ros.io.bag import BagWriter

    cfg = SynthConfig(width=size[0], height=size[1], fps=fps, seconds=seconds, seed=seed,
                      **options)
    thermal_encoding = 'mono16' if cfg.thermal_16bit else 'mono8'
    labels = []
    with BagWriter(out_bag, storage=storage) as bag:
        for f in tqdm(generate_sequence(cfg), total=cfg.num_frames, desc='synth', unit='pair',
                      disable=not progress):
            if not f.thermal_dropped:
                bag.write_image(THERMAL_TOPIC, f.thermal, thermal_encoding, f.thermal_stamp_ns,
                                THERMAL_FRAME)
            if not f.rgb_dropped:
                bag.write_image(RGB_TOPIC, f.rgb, 'rgb8', f.rgb_stamp_ns, RGB_FRAME)
            labels.append(frame_label(f))
    truth = ground_truth(cfg, labels)
    (Path(out_bag) / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1) + '\n')
    return cfg.num_frames


def run(args: argparse.Namespace) -> int:
    from fusion_ros.io.bag import bag_in_place, remove_bag

    if args.overwrite:
        remove_bag(args.out_bag)
    with bag_in_place(args.out_bag) as tmp:  # Ctrl-C leaves no partial bag behind
        n = write_synthetic_bag(tmp, seconds=args.seconds, fps=args.fps, seed=args.seed,
                                size=args.size, storage=args.storage, jitter_ms=args.jitter_ms,
                                drop_rate=args.drop_rate, thermal_16bit=args.thermal_16bit,
                                thermal_offset=args.thermal_offset)
    print(f'wrote {n} thermal + RGB pairs ({args.size[0]}x{args.size[1]}, {args.fps:g} Hz) '
          f'to {args.out_bag}')
    return 0

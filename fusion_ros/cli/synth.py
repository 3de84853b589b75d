# SPDX-License-Identifier: Apache-2.0
"""Write a synthetic day-to-night thermal + RGB sequence as a rosbag2.

Topics: /thermal/image_raw (mono8, frame thermal_camera) and /rgb/image_raw (rgb8, frame
rgb_camera), registered, 20 Hz, each camera with its own stamp jitter. A warm pedestrian
walks by; a car's headlights glare in the RGB image at night. Deterministic for a seed.

Example:
    fusion-ros synth night.mcap_bag --seconds 10 --size 640x512
    ros2 bag play night.mcap_bag
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fusion_ros.cli._args import positive_float, size
from fusion_ros.topics import RGB_FRAME, RGB_TOPIC, THERMAL_FRAME, THERMAL_TOPIC


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
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing bag at OUT_BAG')


def write_synthetic_bag(
    out_bag: Path,
    *,
    seconds: float = 10.0,
    fps: float = 20.0,
    seed: int = 0,
    size: tuple[int, int] = (640, 512),
    storage: str = 'mcap',
    progress: bool = True,
) -> int:
    """Generate the sequence into ``out_bag``; return the number of frame pairs."""
    from tqdm import tqdm

    from fusion_ros.data.synthetic import SynthConfig, generate_sequence
    from fusion_ros.io.bag import BagWriter

    cfg = SynthConfig(width=size[0], height=size[1], fps=fps, seconds=seconds, seed=seed)
    with BagWriter(out_bag, storage=storage) as bag:
        frames = tqdm(generate_sequence(cfg), total=cfg.num_frames, desc='synth', unit='pair',
                      disable=not progress)
        for f in frames:
            bag.write_image(THERMAL_TOPIC, f.thermal, 'mono8', f.thermal_stamp_ns,
                            THERMAL_FRAME)
            bag.write_image(RGB_TOPIC, f.rgb, 'rgb8', f.rgb_stamp_ns, RGB_FRAME)
    return cfg.num_frames


def run(args: argparse.Namespace) -> int:
    from fusion_ros.io.bag import remove_bag

    if args.overwrite:
        remove_bag(args.out_bag)
    n = write_synthetic_bag(args.out_bag, seconds=args.seconds, fps=args.fps, seed=args.seed,
                            size=args.size, storage=args.storage)
    print(f'wrote {n} thermal + RGB pairs ({args.size[0]}x{args.size[1]}, {args.fps:g} Hz) '
          f'to {args.out_bag}')
    return 0

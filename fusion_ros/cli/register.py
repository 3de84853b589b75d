# SPDX-License-Identifier: Apache-2.0
"""Find the homography that maps thermal pixels onto the RGB image of your rig, from
ordinary recorded frames (no calibration target), and show how well they line up.

Cameras side by side see the scene from different places through different lenses, and
every fusion model here needs pixel-aligned inputs. This compares the edge structure of
the two cameras (never their intensities: warm is not bright) over many frames, so moving
objects and empty frames do not decide the answer: a search over scale, rotation and
shift, then a joint coarse-to-fine refinement. Each frame is also refined alone; the
spread of those answers (in RGB pixels at the image corners) is the confidence.

Prints the homography, its spread and a snippet for config/fusion.yaml; writes to --out
registration.png (checkerboard and edge overlay before/after for a few frames),
registration.json and registration.yaml. Scenes with structure at several distances work
best; for a rig whose cameras are far apart, register at the distance you care about.

Models: translation, similarity (shift, scale, rotation: what most rigs need, default),
affine, homography (needs frames that span the view).

Examples:
  fusion-ros register --bag drive.mcap_bag --frames 50
  fusion-ros register --ir pairs/ir --vi pairs/vi --model affine --json
  ros2 launch fusion_ros fusion.launch.py params_file:=registration/registration.yaml
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fusion_ros.defaults import SYNC_SLOP_S
from fusion_ros.registration import MODELS, spaced_indices

DEFAULT_FRAMES = 50
SHEET_FRAMES = 3
# below this, a different transform scored nearly as well (benchmarks/registration.py: of
# RoadScene single frames 10 of 35 wrong answers and 6 of 110 right ones)
AMBIGUOUS_MARGIN = 0.01


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group('frames (a recording, or two folders)')
    which = src.add_mutually_exclusive_group(required=True)
    which.add_argument('--bag', type=Path, default=None, help='rosbag2 with thermal + RGB')
    which.add_argument('--ir', type=Path, default=None, help='thermal image folder')
    src.add_argument('--vi', type=Path, default=None,
                     help='visible image folder (with --ir; files paired by name)')
    src.add_argument('--thermal', default=None, metavar='TOPIC',
                     help="thermal topic of --bag (default: the node's, raw or compressed)")
    src.add_argument('--rgb', default=None, metavar='TOPIC', help='RGB topic of --bag')
    src.add_argument('--slop', type=float, default=SYNC_SLOP_S,
                     help='pairing tolerance in s, as the node (default: %(default)s)')
    parser.add_argument('--frames', type=int, default=DEFAULT_FRAMES, metavar='N',
                        help='frames used, spread evenly over the recording '
                             '(default: %(default)s)')
    parser.add_argument('--model', default='similarity', choices=MODELS,
                        help='transform family (default: %(default)s)')
    parser.add_argument('--out', type=Path, default=Path('registration'),
                        help='folder for the picture, JSON and YAML (default: %(default)s)')
    parser.add_argument('--json', action='store_true',
                        help='print the result as JSON ({"homography": [9 numbers, '
                             'row-major, thermal to RGB], ...})')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def _bag_frames(args: argparse.Namespace) -> tuple[int, Iterator[tuple[np.ndarray, np.ndarray]]]:
    from fusion_ros.bagtools.info import count_pairs, image_pair_topics
    from fusion_ros.bagtools.pairs import SyncedPairs
    from fusion_ros.errors import ConfigError
    from fusion_ros.io.bag import bag_topics

    topics = image_pair_topics(bag_topics(args.bag), args.thermal, args.rgb)
    if topics is None:
        raise ConfigError(f'{args.bag}: no thermal + RGB image topics (give --thermal and '
                          f'--rgb; "fusion-ros bag info {args.bag}" lists its topics)')
    total = count_pairs(args.bag, topics, args.slop)  # headers only: cheap
    if total == 0:
        raise ConfigError(f'{args.bag}: {topics[0]} and {topics[1]} make no pairs within '
                          f'{args.slop} s (try a larger --slop)')
    chosen = set(spaced_indices(total, args.frames))

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k, (thermal, rgb) in enumerate(SyncedPairs(args.bag, topics, args.slop)):
            if k in chosen:  # only the chosen frames are decoded
                yield thermal.image(), rgb.image()

    return len(chosen), frames()


def _folder_frames(args: argparse.Namespace
                   ) -> tuple[int, Iterator[tuple[np.ndarray, np.ndarray]]]:
    from fusion_ros.errors import ConfigError, UsageError
    from fusion_ros.io.image_files import pair_folders, read_image, read_thermal

    if args.vi is None:
        raise UsageError('--ir needs --vi (the visible folder)')
    pairs, unmatched = pair_folders(args.ir, args.vi)
    if not pairs:
        raise ConfigError(f'no pairs: no file name in {args.ir} has a partner in {args.vi}')
    names = sorted(pairs)
    chosen = spaced_indices(len(names), args.frames)

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k in chosen:
            ir, vi = pairs[names[k]]
            yield read_thermal(ir), read_image(vi)

    return len(chosen), frames()


def yaml_snippet(homography: np.ndarray) -> str:
    """Node parameters (a --params-file) with the homography, for config/fusion.yaml."""
    values = ', '.join(f'{v:.9g}' for v in homography.reshape(-1))
    return ('/**:\n  ros__parameters:\n    registration:\n'
            f'      homography: [{values}]\n')


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from tqdm import tqdm

    from fusion_ros.cli._args import check_output_folder
    from fusion_ros.errors import UsageError
    from fusion_ros.registration import estimate_registration, resize_homography
    from fusion_ros.registration.plot import registration_sheet

    if args.frames < 1:
        raise UsageError(f'--frames must be >= 1, got {args.frames}')
    check_output_folder(args.out)
    count, frames = _bag_frames(args) if args.bag is not None else _folder_frames(args)
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    sheet_at = set(spaced_indices(count, SHEET_FRAMES))

    def remember(pairs: Iterator[tuple[np.ndarray, np.ndarray]]
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k, pair in enumerate(pairs):
            if k in sheet_at:
                kept.append(pair)
            yield pair

    with tqdm(total=count + 2, unit='frame', desc='register',
              disable=args.no_progress or args.json) as bar:
        result = estimate_registration(remember(frames), model=args.model,
                                       progress=lambda n: bar.update(max(n, 1)))
    h = result.homography
    t_size = kept[0][0].shape[1::-1]
    v_size = kept[0][1].shape[1::-1]
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {**result.to_json(), 'thermal_size': list(t_size), 'rgb_size': list(v_size)}
    (args.out / 'registration.json').write_text(json.dumps(doc, indent=2) + '\n')
    (args.out / 'registration.yaml').write_text(
        f'# fusion-ros register ({result.model}, {len(result.used)} frames)\n'
        + yaml_snippet(h))
    sheet = registration_sheet(
        args.out / 'registration.png', kept, resize_homography(t_size, v_size), h,
        title=f'{result.model}: edge agreement {result.score_before:.3f} -> '
              f'{result.score:.3f}')
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        rows = '\n'.join('  [' + ', '.join(f'{v:12.6g}' for v in row) + ']' for row in h)
        print(f'thermal -> RGB homography ({result.model}, {len(result.used)} of '
              f'{result.frames} frames):\n{rows}')
        if result.spread_px is not None:
            print(f'spread over frames: median {result.spread_px:.2f} px, 95th percentile '
                  f'{result.spread_p95_px:.2f} px')
        print(f'edge agreement: {result.score_before:.3f} before, {result.score:.3f} after')
        if result.consistency_px is not None:  # few frames: checked the other way round
            print(f'round trip thermal -> RGB -> thermal (RGB registered onto thermal): '
                  f'{result.consistency_px:.2f} px')
        for index, reason in sorted(result.skipped.items()):
            print(f'  frame {index} left out: {reason}')
        print('\nfor config/fusion.yaml (or --params-file):\n' + yaml_snippet(h))
        print(f'wrote {sheet}, {args.out / "registration.json"}, '
              f'{args.out / "registration.yaml"}')
    if result.margin is not None and result.margin < AMBIGUOUS_MARGIN:
        print(f'warning: another transform fits the edges almost as well (margin '
              f'{result.margin:.3f}): the scene is ambiguous; register more frames '
              f'(night scenes with glare especially)', file=sys.stderr)
    if result.spread_px is not None and result.spread_px > 2.0:
        print(f'warning: the frames disagree by {result.spread_px:.1f} px (median): record '
              f'more frames with structure at several distances, or use a simpler --model',
              file=sys.stderr)
    return 0

# SPDX-License-Identifier: Apache-2.0
"""Recordings: convert datasets to rosbag2, play, record, fuse offline, inspect.

  convert kaist|llvip|msrs|pairs SRC OUT_BAG   dataset folders -> rosbag2 (mcap or sqlite3)
  play BAG                                     publish with the recorded timing
  record OUT_BAG TOPIC...                      record live topics
  fuse IN_BAG OUT_BAG                          fuse every synchronised pair, fast
  info BAG                                     topics, counts, rates, pairs

Bags are rosbag2 directories readable by ``ros2 bag``; ``--humble`` writes metadata version
8, which ROS 2 Humble can open (version 9 cannot). Each command has its own ``--help``.

Examples:
    fusion-ros bag convert kaist ~/data/kaist/set06 set06.bag --sequence set06/V000
    fusion-ros bag convert llvip ~/data/LLVIP llvip.bag --split test --sequence 1900 --rate 10
    fusion-ros bag fuse set06.bag set06_fused.bag --model fastfusion --batch 8
    fusion-ros bag play set06_fused.bag --rate 0.5 --loop --clock
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fusion_ros.cli._args import add_model_arguments, engine_from_args, positive_float
from fusion_ros.cli._bag_sync import add_sync_options, stream_settings
from fusion_ros.cli.bag_many import add_fuse_many_parser, run_fuse_many
from fusion_ros.defaults import DEFAULT_MODEL, SYNC_QUEUE_SIZE, SYNC_SLOP_S

INTERRUPTED = 130  # Ctrl-C / SIGTERM, as every fusion-ros command (shell convention)

def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                   help='rosbag2 storage plugin (default: mcap)')
    p.add_argument('--humble', action='store_true',
                   help='write metadata version 8 so ROS 2 Humble can read the bag')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output bag')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='bag_command', required=True, metavar='BAG_COMMAND')
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser('convert', formatter_class=fmt, help='dataset folders -> rosbag2',
                       description=_CONVERT_DOC)
    p.add_argument('layout', choices=('kaist', 'llvip', 'msrs', 'pairs'),
                   help='dataset layout of SRC')
    p.add_argument('src', type=Path, help='dataset folder (KAIST: root, one set or one video)')
    p.add_argument('out_bag', type=Path, help='output rosbag2 directory (must not exist)')
    p.add_argument('--split', choices=('train', 'test', 'all'), default='all',
                   help='dataset split (default: all)')
    p.add_argument('--sequence', default=None,
                   help='KAIST video (set06/V000, glob or prefix) or still-name glob/prefix '
                        '(LLVIP 1900 or "19*")')
    p.add_argument('--rate', type=positive_float, default=20.0,
                   help='frame rate in Hz (KAIST is 20 Hz video; default: %(default)s)')
    p.add_argument('--compress', choices=('jpeg', 'png'), default=None,
                   help='write sensor_msgs/CompressedImage on .../image_raw/compressed '
                        '(a source file already in that format is stored as is)')
    p.add_argument('--limit', type=int, default=None, help='convert at most N pairs')
    _add_output_options(p)

    p = sub.add_parser('play', formatter_class=fmt, help='publish a bag with its timing',
                       description='Publish a bag onto live topics with the recorded timing '
                       '(the job of "ros2 bag play" where rosbag2 is not installed).')
    p.add_argument('bag', type=Path)
    p.add_argument('--rate', type=positive_float, default=1.0,
                   help='speed factor (default: %(default)s)')
    p.add_argument('--loop', action='store_true', help='start over at the end, until Ctrl-C')
    p.add_argument('--clock', nargs='?', type=positive_float, const=40.0, default=0.0,
                   metavar='HZ', help='publish /clock (bag time) at HZ (default 40 when '
                   'given) for nodes with use_sim_time')
    p.add_argument('--topics', nargs='+', default=None, help='only these topics')
    p.add_argument('--start', type=float, default=0.0, metavar='S',
                   help='skip the first S seconds of the bag')
    p.add_argument('--duration', type=positive_float, default=None, metavar='S',
                   help='play only S seconds')
    p.add_argument('--qos', default='sensor_data',
                   help='publisher QoS: sensor_data (as camera drivers), reliable, ... '
                        '(default: %(default)s)')
    p.add_argument('--wait-subscribers', type=float, default=0.0, metavar='S',
                   help='wait up to S seconds for a subscriber to each image topic, then '
                        '1 s for it to match the player, before playing')

    p = sub.add_parser('record', formatter_class=fmt, help='record live topics',
                       description='Record live topics into a rosbag2 until Ctrl-C or '
                       '--duration; types are discovered from the graph.')
    p.add_argument('out_bag', type=Path)
    p.add_argument('topics', nargs='+', help='topics to record')
    p.add_argument('--duration', type=positive_float, default=None, metavar='S',
                   help='stop after S seconds')
    p.add_argument('--discovery-timeout', type=positive_float, default=10.0, metavar='S',
                   help='give up when a topic has no publisher after S seconds (default 10)')
    p.add_argument('--qos', default='sensor_data',
                   help='subscription QoS; sensor_data also hears reliable publishers '
                        '(default: %(default)s)')
    _add_output_options(p)

    p = sub.add_parser('fuse', formatter_class=fmt, help='fuse a bag offline, fast',
                       description=_FUSE_DOC)
    p.add_argument('in_bag', type=Path)
    p.add_argument('out_bag', type=Path)
    add_model_arguments(p, DEFAULT_MODEL)
    p.add_argument('--batch', type=int, default=1,
                   help='pairs per forward pass; 8-32 pays off on a GPU (default: 1)')
    p.add_argument('--no-enhanced', action='store_true', help='skip enhanced/image_raw')
    p.add_argument('--outputs-only', action='store_true',
                   help='do not copy the input topics into OUT_BAG')
    p.add_argument('--detect', choices=('hog', 'onnx'), default=None,
                   help='also run a detector on the fused frames: detections/image and '
                        'detections/json, as the detector node')
    p.add_argument('--detector-model', default='', metavar='ONNX',
                   help='YOLOv5/YOLOv8 ONNX export for --detect onnx')
    add_sync_options(p)
    p.add_argument('--params-file', type=Path, default=None, metavar='YAML',
                   help="the fusion node's parameters file (config/fusion.yaml or yours): "
                        'pair (sync.*) and switch day/night (illumination.*) as that node '
                        'would; --slop and --queue-size given here still win')
    _add_output_options(p)

    add_fuse_many_parser(sub, fmt)

    p = sub.add_parser('info', formatter_class=fmt, help='what a bag holds',
                       description='Topics, types, counts, rates, duration, and how many '
                       'pairs the node synchronizer makes.')
    p.add_argument('bag', type=Path)
    p.add_argument('--json', action='store_true', help='print JSON')
    add_sync_options(p)


_CONVERT_DOC = """Convert a dataset into a rosbag2 with thermal and RGB images and CameraInfo.

Topics: /thermal/image_raw, /rgb/image_raw (sensor_msgs/Image; with --compress,
.../image_raw/compressed as sensor_msgs/CompressedImage) and /thermal/camera_info,
/rgb/camera_info; frame ids thermal_camera and rgb_camera. Both images of a pair carry the
same stamp. KAIST keeps its frame numbers' timing at --rate; stills are 1/rate apart.
Files without a counterpart, unreadable files and size mismatches are listed by name.

Layouts:
  kaist  setXX/VYYY/{visible,lwir}/IZZZZZ.jpg
  llvip  {visible,infrared}/{train,test}/NNNNNN.jpg
  msrs   {train,test}/{vi,ir}/NNNNN{D,N}.png
  pairs  ir/ and vi/ with equal file names (TNO, RoadScene, your own)
"""

_FUSE_DOC = """Fuse a recording offline, as fast as the hardware allows.

Reads the thermal and RGB image topics (Image or CompressedImage), pairs them with the
node's synchronizer and day/night hysteresis (--params-file: the node's parameters file;
--slop, --queue-size), fuses in batches and writes fused/image_raw,
enhanced/image_raw, illumination/day_probability and illumination/is_night (and with
--detect, detections/image and detections/json) with the RGB stamps into OUT_BAG, next
to a copy of the inputs. Frames that fail are named; the rest is written. Prints the throughput.
"""


def run(args: argparse.Namespace) -> int:
    from fusion_ros.io.bag import remove_bag

    if getattr(args, 'overwrite', False):
        remove_bag(args.out_bag)
    return _COMMANDS[args.bag_command](args)


def _version(args: argparse.Namespace) -> int:
    return 8 if args.humble else 9


def _convert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fusion_ros.bagtools.convert import convert_listing
    from fusion_ros.io.bag import bag_in_place, discard_bag
    from fusion_ros.io.datasets import list_dataset

    split = None if args.split == 'all' else args.split
    listing = list_dataset(args.layout, args.src, split=split, sequence=args.sequence)
    if args.limit is not None:
        listing.pairs = listing.pairs[:args.limit]
    with bag_in_place(args.out_bag) as tmp, \
            tqdm(total=len(listing.pairs), unit='pair', desc='convert') as bar:
        report = convert_listing(listing, tmp, rate_hz=args.rate, compress=args.compress,
                                 storage=args.storage, version=_version(args),
                                 on_pair=lambda _: bar.update())
        if not report.pairs:
            discard_bag(tmp)  # an empty bag would only block the next run
    span = 0.0 if report.first_ns is None else (report.last_ns - report.first_ns) / 1e9
    print(f'wrote {report.pairs} pairs ({report.messages} messages, {span:.1f} s) to '
          f'{args.out_bag} [{args.storage}, metadata v{_version(args)}]')
    for name, reason in report.skipped:
        print(f'  skipped {name}: {reason}')
    if not report.pairs:
        print(f'error: no pair of {args.src} could be converted; nothing written',
              file=sys.stderr)
        return 1
    return 1 if report.skipped else 0  # as fuse: skipped inputs are a failure, named above


def _play(args: argparse.Namespace) -> int:
    from fusion_ros.ros.player import BagPlayer
    from fusion_ros.ros.qos import make_qos
    from fusion_ros.ros.session import ros_session

    with ros_session('fusion_ros_bag_player') as (node, stop):
        player = BagPlayer(node, args.bag, make_qos(args.qos, 10), args.topics, args.rate,
                           start_s=args.start, duration_s=args.duration, loop=args.loop,
                           clock_hz=args.clock)
        n = player.prepare()
        if args.wait_subscribers > 0:  # camera_info may have no subscriber: images only
            player.wait_for_subscribers(args.wait_subscribers, player.image_topics() or None,
                                        stop.is_set)
        print(f'playing {args.bag} ({n} topics) at {args.rate:g}x'
              + (', looping' if args.loop else '') + '; Ctrl-C stops', flush=True)
        start = time.monotonic()
        count = player.play(should_stop=stop.is_set, on_pass=lambda k, total: print(
            f'pass {k} done ({total} messages so far)', flush=True) if args.loop else None)
        print(f'published {count} messages in {time.monotonic() - start:.1f} s'
              + (' (stopped)' if stop.is_set() else ''))
    return INTERRUPTED if stop.is_set() else 0


def _record(args: argparse.Namespace) -> int:
    from fusion_ros.errors import BagError
    from fusion_ros.ros.qos import make_qos
    from fusion_ros.ros.recorder import TopicRecorder
    from fusion_ros.ros.session import ros_session

    with ros_session('fusion_ros_bag_recorder') as (node, stop):
        wanted = [t if t.startswith('/') else '/' + t for t in args.topics]
        deadline = time.monotonic() + args.discovery_timeout
        types: dict[str, str] = {}
        while len(types) < len(wanted) and not stop.is_set():
            found = dict(node.get_topic_names_and_types())
            types = {t: found[t][0] for t in wanted if found.get(t)}
            if time.monotonic() > deadline:
                missing = sorted(set(wanted) - set(types))
                raise BagError(f'no publisher of {missing} within {args.discovery_timeout:g} s')
            time.sleep(0.1)
        if stop.is_set():
            return INTERRUPTED
        recorder = TopicRecorder(node, args.out_bag, types, make_qos(args.qos, 100),
                                 storage=args.storage, version=_version(args))
        with recorder:
            print(f'recording {len(types)} topics to {args.out_bag}; Ctrl-C stops', flush=True)
            end = None if args.duration is None else time.monotonic() + args.duration
            while not stop.is_set() and (end is None or time.monotonic() < end):
                time.sleep(0.05)
        print(f'recorded {recorder.count} messages: '
              + ', '.join(f'{t} {len(r)}' for t, r in recorder.receipts.items()))
        if lost := recorder.lost():
            print('warning: lost in transport before the recorder took them (the recorder '
                  'was starved of CPU): ' + ', '.join(f'{t} {n}' for t, n in lost.items()),
                  file=sys.stderr)
    if recorder.count == 0:
        print('error: nothing was recorded', file=sys.stderr)
        return 1
    return INTERRUPTED if stop.is_set() else 0  # the bag is closed and complete either way


def _fuse(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fusion_ros.bagtools.fuse import fuse_bag
    from fusion_ros.bagtools.info import bag_info
    from fusion_ros.errors import BagError

    stream = stream_settings(args)  # a wrong setting: one line before any work
    try:
        total = sum(t.count for t in bag_info(args.in_bag).topics.values())
    except BagError as err:  # damaged: fuse_bag reads what it can and reports the damage
        total = None
        print(f'warning: {err}', file=sys.stderr)
    engine = engine_from_args(args, enhanced=not args.no_enhanced)
    detect = None
    if args.detect:
        from fusion_ros.bagtools.fuse import detection_writer
        from fusion_ros.detect import build_detector

        detect = detection_writer(build_detector(args.detect, model_path=args.detector_model))
    with tqdm(total=total, unit='msg', desc='fuse') as bar:
        report = fuse_bag(args.in_bag, args.out_bag, engine, thermal_topic=args.thermal_topic,
                          rgb_topic=args.rgb_topic, stream=stream, batch=args.batch,
                          copy_inputs=not args.outputs_only, storage=args.storage,
                          version=_version(args), detect=detect,
                          on_message=lambda _: bar.update())
    print(f'fused {report.fused}/{report.pairs} pairs with {engine.describe()} '
          f'(batch {args.batch}): {report.fps:.1f} pairs/s overall, '
          f'{report.model_ms / max(report.fused, 1):.1f} ms/pair in the model -> {args.out_bag}')
    if report.time_jumps:
        print(f'  stamps jumped back {report.time_jumps} time(s): synchronizer restarted')
    for stamp, reason in report.failed:
        print(f'  failed at {stamp / 1e9:.3f} s: {reason}')
    if report.input_error:
        print(f'error: {report.input_error}; the output holds what was fused before it',
              file=sys.stderr)
    return 1 if report.failed or report.input_error else 0


def _info(args: argparse.Namespace) -> int:
    from fusion_ros.bagtools.info import bag_info

    info = bag_info(args.bag, thermal=args.thermal_topic, rgb=args.rgb_topic,
                    slop_s=SYNC_SLOP_S if args.slop is None else args.slop,
                    queue_size=SYNC_QUEUE_SIZE if args.queue_size is None else args.queue_size)
    if args.json:
        json.dump(info.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print(info.format())
    return 0


_COMMANDS = {'convert': _convert, 'play': _play, 'record': _record, 'fuse': _fuse,
             'fuse-many': run_fuse_many, 'info': _info}

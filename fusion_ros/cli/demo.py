# SPDX-License-Identifier: Apache-2.0
"""Day-to-night demonstration of the whole pipeline, on built-in synthetic data.

1. writes a synthetic thermal + RGB sequence (day -> dusk -> night) to OUT/input_bag;
2. starts the fusion node as its own process on a private ROS domain;
3. replays the bag in real time on thermal/image_raw and rgb/image_raw;
4. records fused/image_raw and illumination/day_probability into OUT/fused_bag;
5. writes OUT/contact_sheet.png (thermal | RGB | fused, and the illumination curve) and
   OUT/summary.json, and prints pairs in, fused out, dropped, throughput and latency.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusion_ros.cli._args import positive_float, size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', type=Path, default=Path('demo_out'),
                        help='output directory (default: %(default)s)')
    parser.add_argument('--seconds', type=positive_float, default=10.0,
                        help='sequence duration (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--size', type=size, default=(640, 512), metavar='WxH',
                        help='image size (default: 640x512)')
    parser.add_argument('--model', default=None,
                        help='fusion model (default: the node default; see "fusion-ros models")')
    parser.add_argument('--rate', type=positive_float, default=1.0,
                        help='playback speed factor (default: %(default)s)')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID of the private graph (default: random in 1..101)')
    parser.add_argument('--moments', type=int, default=5,
                        help='rows of the contact sheet (default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    from fusion_ros.cli.synth import write_synthetic_bag
    from fusion_ros.io.bag import remove_bag
    from fusion_ros.ros.pipeline import isolated_ros_env, run_pipeline

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    in_bag, fused_bag = out / 'input_bag', out / 'fused_bag'
    remove_bag(in_bag)
    remove_bag(fused_bag)

    n = write_synthetic_bag(in_bag, seconds=args.seconds, seed=args.seed, size=args.size)
    print(f'[1/3] synthetic sequence: {n} pairs {args.size[0]}x{args.size[1]} -> {in_bag}')

    env = isolated_ros_env(args.domain_id)
    node_args = ['-p', f'model:={args.model}'] if args.model else []
    print(f'[2/3] replaying through the fusion node (ROS_DOMAIN_ID={env["ROS_DOMAIN_ID"]}, '
          f'{args.seconds / args.rate:.0f} s)...', flush=True)
    report = run_pipeline(in_bag, fused_bag, node_args, rate=args.rate, env=env)
    summary = report.summary()
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    (out / 'fusion_node.log').write_text(report.node_log)

    sheet = None
    if report.fused:
        sheet = _contact_sheet(in_bag, fused_bag, out / 'contact_sheet.png', report,
                               args.moments)
    print(f'[3/3] outputs in {out}/: fused_bag, summary.json, fusion_node.log'
          + (', contact_sheet.png' if sheet else ''))
    print()
    print('summary')
    print(f"  pairs in         {summary['pairs_in']:>8d}   (thermal {summary['thermal_in']}, "
          f"RGB {summary['rgb_in']} frames published)")
    print(f"  fused out        {summary['fused_out']:>8d}")
    print(f"  dropped          {summary['dropped']:>8d}   (node {summary['dropped_by_node']}, "
          f"inputs lost in transport {summary['lost_in_transport']})")
    print(f"  throughput       {summary['throughput_fps']:>8.1f} fused frames/s")
    print(f"  latency p50      {summary['latency_p50_ms']:>8.1f} ms   (RGB publish -> fused "
          'receipt)')
    print(f"  latency p95      {summary['latency_p95_ms']:>8.1f} ms")
    if report.node_returncode not in (0, None):
        print(f'fusion node exited with code {report.node_returncode}; see fusion_node.log')
        return 1
    return 0 if report.fused else 1


def _contact_sheet(in_bag: Path, fused_bag: Path, path: Path, report, rows: int) -> Path:
    import numpy as np

    from fusion_ros.io.bag import cdr_header_stamp, read_bag
    from fusion_ros.io.image_msg import image_to_array
    from fusion_ros.topics import FUSED_TOPIC, RGB_TOPIC, THERMAL_TOPIC
    from fusion_ros.viz.contact_sheet import Moment, write_contact_sheet

    fused_msgs = list(read_bag(fused_bag, [FUSED_TOPIC]))
    picks = np.linspace(0, len(fused_msgs) - 1, min(rows, len(fused_msgs))).round().astype(int)
    chosen = {cdr_header_stamp(fused_msgs[i].raw): i for i in picks}
    t0 = min(cdr_header_stamp(m.raw) for m in read_bag(in_bag, [RGB_TOPIC]))
    rgb, thermal_stamps = {}, {}
    for m in read_bag(in_bag, [RGB_TOPIC, THERMAL_TOPIC]):
        s = cdr_header_stamp(m.raw)
        if m.topic == RGB_TOPIC and s in chosen:
            rgb[s] = image_to_array(m.decode())
        elif m.topic == THERMAL_TOPIC:
            thermal_stamps[s] = m
    day = [p for _, p in report.day_probability]
    moments = []
    for stamp, i in sorted(chosen.items()):
        nearest = min(thermal_stamps, key=lambda s: abs(s - stamp))
        moments.append(Moment(
            time_s=(stamp - t0) / 1e9,
            thermal=image_to_array(thermal_stamps[nearest].decode()),
            rgb=rgb[stamp],
            fused=image_to_array(fused_msgs[i].decode()),
            day_probability=day[i] if i < len(day) else float('nan'),
        ))
    fused_stamps = [cdr_header_stamp(m.raw) for m in fused_msgs]
    curve_t = [(s - t0) / 1e9 for s in fused_stamps[:len(day)]]
    return write_contact_sheet(path, moments, curve_t, day[:len(curve_t)],
                               title='fusion_ros demo: synthetic day to night')

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Soak test of the fusion node: many pairs through a real node process over Fast DDS,
watching its resident memory and latency for growth and drift.

    .venv/bin/python benchmarks/soak.py [--pairs 20000] [--rate 25] [--size 640x512]
        [--model fastfusion] [--out docs/img/soak]

Publishes synthetic thermal + RGB pairs (a cycle of 40 frames of the day-to-night sequence,
fresh stamps) at ``--rate``, records every fused frame's latency (publish -> fused received)
and samples the node's VmRSS once a second. After a warm-up (the first 10% of the pairs) it
reports RSS growth (last sample vs the first after warm-up; target < 5%) and latency drift
(median of the last 10% vs the first 10% after warm-up). ``--out PREFIX`` writes PREFIX.csv
(timeline) and PREFIX.png (RSS and latency over time).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def _rss_mb(pid: int) -> float:
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def _frames(size: tuple[int, int], count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from fusion_ros.data.synthetic import SynthConfig, generate_sequence

    cfg = SynthConfig(width=size[0], height=size[1], fps=count / 10.0, seconds=10.0, seed=0)
    return [(f.thermal, f.rgb) for f in generate_sequence(cfg)][:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pairs', type=int, default=20000)
    parser.add_argument('--rate', type=float, default=25.0, help='pairs per second')
    parser.add_argument('--size', default='640x512', help='WxH')
    parser.add_argument('--model', default='fastfusion')
    parser.add_argument('--out', type=Path, default=None, help='PREFIX for .csv and .png')
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split('x'))

    from fusion_ros.ros.pipeline import isolated_ros_env

    env = isolated_ros_env()
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from fusion_ros.ros.node_support import image_message
    from fusion_ros.ros.qos import make_qos
    from fusion_ros.ros.session import ros_session

    def image(arr: np.ndarray, stamp_ns: int) -> Image:
        header = Header()
        header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        return image_message(arr, header)  # the node's own Image builder (mono8 / rgb8)

    frames = _frames(size, 40)
    node = subprocess.Popen([sys.executable, '-m', 'fusion_ros.ros.fusion_node', '--ros-args',
                             '-p', f'model:={args.model}'], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    sent_at: dict[int, float] = {}
    latency: list[tuple[int, float]] = []  # (pair index, ms)
    timeline: list[tuple[float, int, int, float]] = []  # (t, sent, fused, rss MB)
    t0 = 1_800_000_000 * 10**9
    period = 1.0 / args.rate
    try:
        with ros_session('soak') as (ros, stop):
            qos = make_qos('reliable', 10)
            pub_t = ros.create_publisher(Image, 'thermal/image_raw', qos)
            pub_r = ros.create_publisher(Image, 'rgb/image_raw', qos)

            def on_fused(msg: Image) -> None:
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                start = sent_at.pop(stamp, None)
                if start is not None:
                    latency.append(((stamp - t0) // int(period * 1e9),
                                    (time.monotonic() - start) * 1e3))

            ros.create_subscription(Image, 'fused/image_raw', on_fused, make_qos('reliable', 10))
            deadline = time.monotonic() + 90
            while pub_t.get_subscription_count() < 1 or pub_r.get_subscription_count() < 1:
                if time.monotonic() > deadline or node.poll() is not None:
                    print('the node did not come up', file=sys.stderr)
                    return 1
                time.sleep(0.1)
            time.sleep(2.0)  # configure + warm-up of the engine
            sampler_stop = threading.Event()
            sent = [0]

            def sample() -> None:
                start = time.monotonic()
                while not sampler_stop.wait(1.0):
                    timeline.append((time.monotonic() - start, sent[0], len(latency),
                                     _rss_mb(node.pid)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            start = time.monotonic()
            for k in range(args.pairs):
                if stop.is_set():
                    break
                thermal, rgb = frames[k % len(frames)]
                stamp = t0 + k * int(period * 1e9)
                sent_at[stamp] = time.monotonic()
                pub_t.publish(image(thermal, stamp))
                pub_r.publish(image(rgb, stamp))
                sent[0] = k + 1
                delay = start + (k + 1) * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if k % 1000 == 999:
                    print(f'{k + 1} pairs sent, {len(latency)} fused, '
                          f'RSS {_rss_mb(node.pid):.0f} MB', file=sys.stderr, flush=True)
            time.sleep(2.0)
            sampler_stop.set()
            sampler.join()
            sent_at.clear()  # the rest were dropped by the node (counted there)
    finally:
        node.send_signal(signal.SIGINT)
        node.wait(timeout=15)
    return _report(args, timeline, latency)


def _report(args: argparse.Namespace, timeline: list, latency: list) -> int:
    warm = args.pairs // 10
    after = [t for t in timeline if t[1] >= warm]
    if len(after) < 2 or not latency:
        print('too short to judge', file=sys.stderr)
        return 1
    rss0, rss1 = after[0][3], after[-1][3]
    lat = np.array([ms for k, ms in sorted(latency) if k >= warm])
    tenth = max(1, len(lat) // 10)
    first, last = np.median(lat[:tenth]), np.median(lat[-tenth:])
    fused = len(latency)
    lines = [
        f'soak: {args.pairs} pairs of {args.size} at {args.rate:g} Hz through {args.model}: '
        f'{fused} fused ({fused / args.pairs:.1%}), {timeline[-1][0]:.0f} s',
        f'  node RSS after warm-up {rss0:.0f} MB -> end {rss1:.0f} MB: growth '
        f'{(rss1 - rss0) / rss0:+.2%} (target < 5%); peak {max(t[3] for t in timeline):.0f} MB',
        f'  latency p50 first tenth {first:.1f} ms, last tenth {last:.1f} ms '
        f'(drift {last - first:+.1f} ms); overall p50 {np.median(lat):.1f} ms, '
        f'p95 {np.percentile(lat, 95):.1f} ms, max {lat.max():.1f} ms',
    ]
    print('\n'.join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out.with_suffix('.csv'), 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['t_s', 'sent', 'fused', 'node_rss_mb'])
            writer.writerows(timeline)
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(2, 1, figsize=(9, 5), sharex=False)
        a.plot([t[0] for t in timeline], [t[3] for t in timeline])
        a.set(xlabel='s', ylabel='node RSS (MB)', title='\n'.join(lines[:1]))
        ks, ms = zip(*sorted(latency))
        b.plot(ks, ms, ',', alpha=0.4)
        b.set(xlabel='pair', ylabel='latency (ms)', yscale='log')
        for ax in (a, b):
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.out.with_suffix('.png'), dpi=90)
    return 0


if __name__ == '__main__':
    sys.exit(main())

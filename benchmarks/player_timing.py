#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How closely `fusion-ros bag play` keeps a bag's recorded spacing in real time: receipt
jitter of a tick bag (21 tiny images, 50 ms apart, a 150 ms pause) over real Fast DDS.

    .venv/bin/python benchmarks/player_timing.py [--runs 5] [--rate 1 2]

For each run it measures each receipt against the bag's schedule (offset / rate), from the
median lag (a late first receipt must not shift the rest), and prints the median and worst
error in ms. The schedule itself is tested on a simulated clock
(test/ros/test_bag_play_record.py); this is the wall-clock part, which a loaded machine
stretches, so it is a number, not a test. Run it beside benchmarks/busy.sh for the load.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np


def _tick_bag(path: Path) -> None:
    from fusion_ros.io.bag import BagWriter

    with BagWriter(path) as bag:
        t = 1_700_000_000_000_000_000
        for k in range(21):
            bag.write_image('/tick', np.full((4, 4), k, np.uint8), 'mono8', t, 'x')
            t += 200_000_000 if k == 9 else 50_000_000


def _one_run(bag: Path, rate: float) -> np.ndarray:
    from sensor_msgs.msg import Image

    from fusion_ros.io.bag import read_bag
    from fusion_ros.ros.player import BagPlayer
    from fusion_ros.ros.qos import make_qos
    from fusion_ros.ros.session import ros_session

    received: list[float] = []
    qos = make_qos('reliable', 50)
    with ros_session('player_timing') as (node, _):
        sub = node.create_subscription(Image, '/tick', lambda m: received.append(
            time.monotonic()), qos)
        player = BagPlayer(node, bag, qos, rate=rate)
        player.prepare()
        while player.subscriber_count() < 1 or sub.get_publisher_count() < 1:
            time.sleep(0.02)
        player.play()
        player.wait_for_acknowledged(10.0)
        deadline = time.monotonic() + 10
        while len(received) < 21 and time.monotonic() < deadline:
            time.sleep(0.01)
    log = np.array([m.time_ns for m in read_bag(bag)], float)
    expected = (log - log[0]) / 1e9 / rate
    lag = np.array(received[:21]) - received[0] - expected[:len(received)]
    return np.abs(lag - np.median(lag)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--rate', type=float, nargs='+', default=[1.0, 2.0])
    args = parser.parse_args()
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(120, 200)))
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / 'tick'
        _tick_bag(bag)
        print('rate  run  received  median error (ms)  max error (ms)')
        for rate in args.rate:
            for run in range(args.runs):
                err = _one_run(bag, rate)
                print(f'{rate:4g}  {run:3d}  {len(err):8d}  {np.median(err):17.2f}  '
                      f'{err.max():14.2f}')


if __name__ == '__main__':
    main()

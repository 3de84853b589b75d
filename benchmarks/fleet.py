#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Many recordings: ``bag fuse-many --engine local`` (Ray workers, one thread each) against
``--engine loop`` (one process, every core), on the same synthetic bags, back to back per
model (the loop first, so an exported network is cached before the workers start). Also
Ray's own start-up and shut-down on this machine. Prints a markdown table for
docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/fleet.py [--models fastfusion piafusion] [--bags 20]
        [--seconds 10] [--fps 20] [--size 640x512] [--workers 2] [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_bags(root: Path, count: int, seconds: float, fps: float, size: tuple[int, int]) -> None:
    from fusion_ros.cli.synth import write_synthetic_bag

    for k in range(count):
        write_synthetic_bag(root / f'drive{k:02d}', seconds=seconds, fps=fps, size=size,
                            seed=k, progress=False)


def fuse(bags: Path, out: Path, model: str, engine: str, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, '-m', 'fusion_ros', 'bag', 'fuse-many', str(bags), '--out', str(out),
           '--model', model, '--engine', engine, '--outputs-only', '--json']
    if engine != 'loop':
        cmd += ['--workers', str(workers)]
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'RAY_ADDRESS')}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{done.stderr[-3000:]}')
    lines = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith('{')]
    pairs = sum(e['fused'] for e in lines)
    busy = sum(e['wall_s'] for e in lines)
    return {'wall_s': wall, 'pairs': pairs, 'pairs_per_s': pairs / wall,
            'bag_s': busy / len(lines), 'workers': len({e['worker'] for e in lines}),
            'ms_per_pair_in_worker': 1000 * busy / pairs}


def ray_start_stop() -> tuple[float, float]:
    import ray

    start = time.perf_counter()
    ray.init(address='local', num_cpus=2, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    up = time.perf_counter() - start
    start = time.perf_counter()
    ray.shutdown()
    return up, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['fastfusion', 'piafusion'])
    parser.add_argument('--bags', type=int, default=20)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--fps', type=float, default=20.0)
    parser.add_argument('--size', default='640x512', help='WIDTHxHEIGHT')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split('x'))
    up, down = ray_start_stop()
    print(f'Ray local instance: start {up:.2f} s, shut down {down:.2f} s')
    rows = []
    with tempfile.TemporaryDirectory(prefix='fleet-') as tmp:
        bags = Path(tmp) / 'bags'
        make_bags(bags, args.bags, args.seconds, args.fps, (height, width))
        for model in args.models:
            loop = fuse(bags, Path(tmp) / 'loop', model, 'loop', args.workers)
            local = fuse(bags, Path(tmp) / 'local', model, 'local', args.workers)
            for name, r in (('loop (1 process, all cores)', loop),
                            (f'local Ray ({args.workers} workers x 1 thread)', local)):
                print(f"{model} {name}: {r['pairs']} pairs in {r['wall_s']:.1f} s, "
                      f"{r['pairs_per_s']:.2f} pairs/s, {r['ms_per_pair_in_worker']:.0f} ms a "
                      f"pair inside a worker, {r['workers']} worker(s)")
            rows.append(f"| {model} | {args.bags} x {args.seconds:g} s @ {args.fps:g} Hz "
                        f"({loop['pairs']} pairs) | {loop['wall_s']:.1f} s, "
                        f"{loop['pairs_per_s']:.2f}/s | {local['wall_s']:.1f} s, "
                        f"{local['pairs_per_s']:.2f}/s | "
                        f"**{local['pairs_per_s'] / loop['pairs_per_s']:.2f}x** | "
                        f"{loop['ms_per_pair_in_worker']:.0f} / "
                        f"{local['ms_per_pair_in_worker']:.0f} ms |")
    table = '\n'.join([
        f'Ray start {up:.2f} s, shut down {down:.2f} s (a local instance of 2 CPUs).',
        '',
        '| model | bags | loop: wall, pairs/s | local Ray: wall, pairs/s | local / loop '
        '| ms a pair in a worker (loop / Ray) |',
        '|---|---|---:|---:|---:|---:|', *rows])
    print(table)
    if args.out:
        Path(args.out).write_text(table + '\n')


if __name__ == '__main__':
    main()

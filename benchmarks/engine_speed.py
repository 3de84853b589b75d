#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Time FusionEngine.fuse (arrays in, fused array out) per model and size; print Markdown.

    .venv/bin/python benchmarks/engine_speed.py [--models average max laplacian] [--repeat 20]

Median and p95 after 3 warm-up frames, batch 1, fp32, random 8-bit thermal + RGB input.
"""

import argparse
import platform
import time

import numpy as np
import torch

from fusion_ros.engine import FusionEngine
from fusion_ros.models import list_models

SIZES = ((640, 480), (640, 512), (1280, 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list_models())
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--sizes', nargs='+', default=[f'{w}x{h}' for w, h in SIZES])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f'device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'{platform.processor() or platform.machine()}')
    print('| model | size | ms median | ms p95 | frames/s |')
    print('|---|---|---:|---:|---:|')
    for name in args.models:
        engine = FusionEngine(name, device=args.device, random_init=True)
        for w, h in (tuple(int(v) for v in s.split('x')) for s in args.sizes):
            ir = rng.integers(0, 256, (h, w), dtype=np.uint8)
            vi = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            for _ in range(3):
                engine.fuse(ir, vi)
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                engine.fuse(ir, vi)
                times.append((time.perf_counter() - t) * 1e3)
            med, p95 = np.median(times), np.percentile(times, 95)
            print(f'| {name} | {w}x{h} | {med:.1f} | {p95:.1f} | {1000 / med:.1f} |')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shipped models through each backend on tno42: the means of Qabf, VIF and MI of
OpenVINO and ONNX Runtime against torch fp32 (issue 33: within 1 %), in one run.

    .venv/bin/python benchmarks/runtime_fidelity.py [--models piafusion didfuse dfvo]
        [--backends openvino onnxruntime] [--every 1] [--threads N] [--out table.md]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from fusion_ros.engine import FusionEngine
from fusion_ros.engine.runtimes import runtime_missing
from fusion_ros.metrics import compute_metrics

METRICS = ('Qabf', 'VIF', 'MI')


def tno42() -> Path:
    return Path(os.environ.get('FUSION_ROS_SHARED', '../shared')) / 'data' / 'benchmarks' / \
        'tno42'


def scores(model: str, backend: str, names: list[str], threads: str) -> dict[str, float]:
    engine = FusionEngine(model, precision='fp32', backend=backend, threads=threads,
                          enhanced=False)
    rows = []
    for name in names:
        ir = cv2.imread(str(tno42() / 'ir' / name), cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(str(tno42() / 'vi' / name), cv2.IMREAD_GRAYSCALE)
        fused = engine.fuse(ir, vi).fused
        grey = fused if fused.ndim == 2 else cv2.cvtColor(fused, cv2.COLOR_RGB2GRAY)
        rows.append(compute_metrics(ir, vi, grey, METRICS))
    print(f'{model} {backend}: {engine.describe()}', flush=True)
    return {m: float(np.mean([r[m] for r in rows])) for m in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['piafusion', 'didfuse', 'dfvo'])
    parser.add_argument('--backends', nargs='+', default=['openvino', 'onnxruntime'])
    parser.add_argument('--every', type=int, default=1, help='every N-th image (speed)')
    parser.add_argument('--threads', default='auto')
    parser.add_argument('--out', type=Path, default=None)
    args = parser.parse_args()
    names = sorted(p.name for p in (tno42() / 'ir').iterdir())[::args.every]
    lines = [f'tno42, {len(names)} images, fp32, means (relative difference to torch)', '',
             '| model | backend | ' + ' | '.join(METRICS) + ' |',
             '|---|---|' + '---:|' * len(METRICS)]
    for model in args.models:
        ref = scores(model, 'torch', names, args.threads)
        lines.append(f'| {model} | torch | ' + ' | '.join(f'{ref[m]:.4f}' for m in METRICS)
                     + ' |')
        for backend in args.backends:
            if (missing := runtime_missing(backend)) is not None:
                lines.append(f'| {model} | {backend} | {missing} |')
                continue
            got = scores(model, backend, names, args.threads)
            lines.append(f'| {model} | {backend} | ' + ' | '.join(
                f'{got[m]:.4f} ({100 * (got[m] - ref[m]) / ref[m]:+.3f} %)' for m in METRICS)
                + ' |')
    table = '\n'.join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + '\n')


if __name__ == '__main__':
    main()

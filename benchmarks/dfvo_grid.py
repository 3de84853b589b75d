#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""DFVO's period-2 grid (issue 35): HCAM's up-convolutions write only odd rows and columns.
Fuses the same pairs with ``upsample`` = ``official``, ``filled`` (gaps interpolated) and
``none`` (HCAM's contribution left out) and reports the fusion metrics beside the share of
the fused image's power at period 2 (the DFT's Nyquist row and column, in per mille of the
power without the mean: a grid shows there, natural images hold little).

    .venv/bin/python benchmarks/dfvo_grid.py RUN_DIR [--weights models/dfvo.pt] \
        [--skip-set llvip] [--out table.md]
    .venv/bin/python benchmarks/dfvo_grid.py --data tno:../shared/data/tno42 --limit 10

RUN_DIR: its held-out pairs (benchmarks/heldout.py). Torch fp32 on the CPU, ``--threads``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import _set_of, heldout_pairs

from fusion_ros.engine import FusionEngine
from fusion_ros.metrics import compute_metrics
from fusion_ros.training.sources import load_sources

MODES = ('official', 'filled', 'none')
METRICS = ('SF', 'AG', 'VIF', 'Qabf')


def period2_share(grey: np.ndarray) -> float:
    """Per mille of the AC power on the DFT's Nyquist row and column (period 2 in y or x)."""
    f = grey.astype(np.float64)
    h, w = f.shape[0] - f.shape[0] % 2, f.shape[1] - f.shape[1] % 2
    power = np.abs(np.fft.fft2(f[:h, :w] - f[:h, :w].mean())) ** 2
    nyquist = power[h // 2, :].sum() + power[:, w // 2].sum() - power[h // 2, w // 2]
    return float(1000.0 * nyquist / power.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run', type=Path, nargs='?')
    parser.add_argument('--data', action='append', default=[])
    parser.add_argument('--weights', default='models/dfvo.pt')
    parser.add_argument('--skip-set', action='append', default=[],
                        help='leave out a source set (llvip: 1280x1024, slow)')
    parser.add_argument('--limit', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', type=Path)
    args = parser.parse_args()
    pairs = heldout_pairs(args.run) if args.run else load_sources(args.data)
    pairs = [p for p in pairs if _set_of(p) not in args.skip_set]
    if args.limit:
        pairs = pairs[:args.limit]
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    for mode in MODES:
        engine = FusionEngine('dfvo', weights=args.weights, backend='torch', precision='fp32',
                              device='cpu', threads=args.threads, enhanced=False,
                              model_options={'upsample': mode})
        for pair in pairs:
            ir_f, rgb_f = pair.load()
            ir = np.rint(ir_f * 255).astype(np.uint8)
            rgb = np.rint(rgb_f * 255).astype(np.uint8)
            fused = cv2.cvtColor(engine.fuse(ir, rgb).fused, cv2.COLOR_RGB2GRAY)
            vi = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            row = compute_metrics(ir, vi, fused, METRICS)
            row['P2'] = period2_share(fused)
            row['P2 visible'] = period2_share(vi)
            rows[mode].append(row)
        print(f'{mode} done', flush=True)
    columns = (*METRICS, 'P2', 'P2 visible')
    sets = ', '.join(sorted({_set_of(p) for p in pairs}))
    lines = [f'DFVO ({args.weights}) on {len(pairs)} pairs ({sets}); torch fp32; P2: per mille '
             'of the fused power at period 2', '',
             '| upsample | ' + ' | '.join(columns) + ' |', '|---|' + '---:|' * len(columns)]
    for mode in MODES:
        means = [np.nanmean([r[c] for r in rows[mode]]) for c in columns]
        lines.append(f'| {mode} | ' + ' | '.join(f'{v:.4g}' for v in means) + ' |')
    table = '\n'.join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + '\n')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Choose FastFusion's ``radius_reference`` on validation pairs only: score each pair at
every base/detail radius the candidate references give it, then the mean Qabf and VIF of
each candidate over every (checkpoint, pair); the choice is the reference with the highest
mean Qabf whose mean VIF stays within ``--vif-slack`` of the fixed radius (reference 0).

    .venv/bin/python benchmarks/radius_reference.py \
        --runs runs/a/fastfusion-without-llvip shipped=runs/all:models/fastfusion.pt \
        --references 0 192 256 320 384 512 --out runs/radius.md

A run is ``RUN_DIR`` (its held-out split, scored with ``RUN_DIR/best.pt``) or
``LABEL=RUN_DIR:WEIGHTS`` (that split, other weights: the shipped file's run folder is not
kept, and a run of the same data and seed holds the same split). The radius a frame gets
is the model's own rule (``FastFusion.radius_for`` on the engine's padded size), so the
table scores exactly what ``--option radius_reference=R`` would run. Metrics: tang
convention, full-size images, fp32.

    .venv/bin/python benchmarks/radius_reference.py --speed 640x512 --references 0 320

times the model alone (fused image, fp32) under each reference instead, frame by frame in
turn in one process (docs/BENCHMARKS.md, "FastFusion's radius by frame size").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from fusion_ros.cli._args import size
from fusion_ros.engine import FusionEngine
from fusion_ros.metrics import compute_metrics
from fusion_ros.models import build_model
from fusion_ros.models.fastfusion import FastFusion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import _set_of, heldout_pairs

METRICS = ('Qabf', 'VIF')


def _run_spec(text: str) -> tuple[str, Path, str]:
    """``RUN_DIR`` or ``LABEL=RUN_DIR:WEIGHTS`` -> (label, run folder, weights)."""
    if '=' not in text:
        return text, Path(text), str(Path(text) / 'best.pt')
    label, spec = text.split('=', 1)
    run, _, weights = spec.partition(':')
    return label, Path(run), weights or str(Path(run) / 'best.pt')


def score_run(weights: str, pairs: list, references: list[int]
              ) -> list[dict[int, dict[str, float]]]:
    """Per pair: {reference: {metric: value}}, each radius fused once."""
    # the checkpoint under each reference: its own rule, blur radius and size multiple
    rules = {r: build_model('fastfusion', weights=weights, radius_reference=r)
             for r in references}
    engines: dict[int, FusionEngine] = {}
    rows = []
    for pair in pairs:
        ir_f, rgb_f = pair.load()
        ir = np.rint(ir_f * 255).astype(np.uint8)
        rgb = np.rint(rgb_f * 255).astype(np.uint8)
        vi = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        by_radius: dict[int, dict[str, float]] = {}
        row = {}
        for reference in references:
            radius = _radius(rules[reference], *ir.shape[:2])
            if radius not in by_radius:
                if radius not in engines:
                    engines[radius] = FusionEngine(
                        'fastfusion', weights=weights, precision='fp32',
                        model_options={'blur_radius': radius, 'radius_reference': 0})
                fused = cv2.cvtColor(engines[radius].fuse(ir, rgb).fused, cv2.COLOR_RGB2GRAY)
                by_radius[radius] = compute_metrics(ir, vi, fused, METRICS)
            row[reference] = by_radius[radius]
        rows.append(row)
    return rows


def _radius(model: FastFusion, height: int, width: int) -> int:
    """The radius ``model`` runs an H x W frame at, on the size the engine pads it to."""
    m = model.size_multiple
    return model.radius_for(height + (-height) % m, width + (-width) % m)


def speed(weights: str | None, references: list[int], size: tuple[int, int], frames: int,
          threads: int) -> str:
    """Model alone, fused image, fp32: the references interleaved frame by frame in one
    process (so drift on a shared machine hits each alike); median ms of ``frames``."""
    torch.set_num_threads(threads)
    w, h = size
    ir, y = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    models = {r: build_model('fastfusion', weights=weights, radius_reference=r).eval()
              for r in references}
    times: dict[int, list[float]] = {r: [] for r in references}
    with torch.inference_mode():
        for model in models.values():
            model.return_enhanced = False
            for _ in range(10):
                model(ir, y)
        for _ in range(frames):
            for r, model in models.items():
                start = time.perf_counter()
                model(ir, y)
                times[r].append(time.perf_counter() - start)
    lines = [f'| radius_reference | radius at {w}x{h} | ms ({threads} threads) | frames/s |',
             '|---|---:|---:|---:|']
    for r, model in models.items():
        ms = statistics.median(times[r]) * 1e3
        lines.append(f'| {r or "0 (one radius)"} | {model.radius_for(h, w)} | {ms:.2f} | '
                     f'{1e3 / ms:.0f} |')
    return '\n'.join(lines)


def choose(pooled: dict[int, dict[str, float]], slack: float) -> int:
    """The reference with the highest mean Qabf among those whose mean VIF is at least the
    fixed radius's (reference 0) less ``slack``."""
    floor = pooled[0]['VIF'] - slack
    allowed = [r for r, m in pooled.items() if m['VIF'] >= floor]
    return max(allowed, key=lambda r: (pooled[r]['Qabf'], -r))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', nargs='+', metavar='RUN')
    parser.add_argument('--references', nargs='+', type=int,
                        default=[0, 192, 256, 320, 384, 448, 512])
    parser.add_argument('--vif-slack', type=float, default=0.005)
    parser.add_argument('--speed', type=size, metavar='WxH',
                        help='time the model at this size instead (--weights, default the '
                             'shipped file)')
    parser.add_argument('--weights', default=None)
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', type=Path, default=None)
    args = parser.parse_args()
    references = sorted(set(args.references) | {0})
    if args.speed:
        table = speed(args.weights, references, args.speed, args.frames, args.threads)
        print(table)
        if args.out:
            args.out.write_text(table + '\n')
        return
    if not args.runs:
        parser.error('give --runs (or --speed WxH)')
    per_run: dict[str, list] = {}
    per_set: dict[str, list] = defaultdict(list)
    for text in args.runs:
        label, run, weights = _run_spec(text)
        pairs = heldout_pairs(run)
        rows = score_run(weights, pairs, references)
        per_run[label] = rows
        for pair, row in zip(pairs, rows):
            per_set[_set_of(pair)].append(row)
        print(f'{label}: {len(rows)} pairs', flush=True)
    everything = [row for rows in per_run.values() for row in rows]

    def means(rows: list) -> dict[int, dict[str, float]]:
        return {r: {m: float(np.mean([row[r][m] for row in rows])) for m in METRICS}
                for r in references}

    lines = ['| validation pairs | ' + ' | '.join(f'{r or "fixed"}' for r in references) + ' |',
             '|---|' + '---|' * len(references)]
    groups = [*((f'{k} ({len(v)})', v) for k, v in per_run.items()),
              *((f'set {k} ({len(v)})', v) for k, v in sorted(per_set.items())),
              (f'**all ({len(everything)})**', everything)]
    for name, rows in groups:
        m = means(rows)
        lines.append(f'| {name} | ' + ' | '.join(f'{m[r]["Qabf"]:.4f} / {m[r]["VIF"]:.3f}'
                                                  for r in references) + ' |')
    chosen = choose(means(everything), args.vif_slack)
    lines += ['', f'Qabf / VIF. Chosen: radius_reference {chosen} (the highest mean Qabf with '
              f'mean VIF within {args.vif_slack} of the fixed radius).']
    table = '\n'.join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + '\n')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Training cost per model: seconds per optimiser step and peak memory at the papers'
batch and patch sizes (``config/train/MODEL.yaml``), each model in a fresh process.

    .venv/bin/python benchmarks/train_speed.py [--models ...] [--steps 3] [--device cpu]
        [--precisions fp32 auto] [--out table.md]

Patches are random crops of ``$FUSION_ROS_SHARED/data/pairs/msrs`` when it is there, else
random images (same compute). Each precision runs as the trainer does (``auto``: bf16
autocast + channels_last where the hardware computes bf16 natively, fp32 master weights;
the networks under autocast, the losses in fp32). ``--whole-autocast`` runs the whole
objective under autocast instead, as the trainer did before the losses moved to fp32: the
difference is what fp32 losses cost a step.
The first step is warm-up and not counted. Multiply by the
steps of a full run (epochs x patches / batch) for the time a run takes.
``--memory default kept`` times each run with glibc's default heap and with freed memory kept
for reuse (``fusion_ros.memory``, what ``fusion-ros train`` does), each in a fresh process.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

MODELS = ('fastfusion', 'piafusion-classifier', 'piafusion', 'didfuse', 'dfvo')


def _batch(batch: int, patch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    shared = Path(os.environ.get('FUSION_ROS_SHARED', '../shared')) / 'data/pairs/msrs'
    if shared.is_dir():
        from fusion_ros.training.data import PairCache, PatchDataset
        from fusion_ros.training.sources import load_sources

        ds = PatchDataset(PairCache(load_sources([f'msrs:{shared}'])), patch, seed=0)
        items = [ds[i % len(ds)] for i in range(batch)]
        return (torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items]),
                torch.tensor([i[2] for i in items]))
    g = torch.Generator().manual_seed(0)
    return (torch.rand(batch, 1, patch, patch, generator=g),
            torch.rand(batch, 3, patch, patch, generator=g), torch.rand(batch, generator=g))


def measure(model: str, steps: int, device: str, precision: str,
            whole_autocast: bool = False, memory: str = 'kept') -> dict:
    """One model in this process: seconds per step (median) and peak RSS."""
    from fusion_ros.memory import keep_freed_memory

    if memory == 'kept' and not keep_freed_memory():
        raise RuntimeError('freed memory cannot be kept here (not glibc, or MALLOC_* set)')
    from fusion_ros.engine.precision import resolve_precision
    from fusion_ros.training.config import load_train_config
    from fusion_ros.training.objectives import build_objective

    cfg = load_train_config(model)
    settings = dict(cfg.settings)
    if model == 'piafusion':  # the frozen classifier's cost is part of a step
        from fusion_ros.models.piafusion import IlluminationClassifier

        path = Path('/tmp/fusion_ros_bench_classifier.pt')
        torch.save(IlluminationClassifier().state_dict(), path)
        settings['classifier'] = str(path)
    objective = build_objective(model, cfg.model_options, cfg.loss, settings).to(device).train()
    objective.epoch = 1  # DFVO: fusion terms on
    resolved = resolve_precision(precision, torch.device(device),
                                 getattr(objective.model, 'auto_precision', True))
    opt = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=cfg.lr)
    ir, rgb, day = (t.to(device) for t in _batch(cfg.batch, cfg.patch))
    if resolved.channels_last:
        objective.to(memory_format=torch.channels_last)
        ir, rgb = (t.contiguous(memory_format=torch.channels_last) for t in (ir, rgb))
    def autocast() -> torch.autocast:
        return torch.autocast(torch.device(device).type, dtype=resolved.dtype,
                              enabled=resolved.name != 'fp32')

    objective.network_autocast = autocast  # as the trainer: the networks only
    outer = autocast if whole_autocast else contextlib.nullcontext
    times = []
    for _ in range(steps + 1):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with outer():
            total = objective(ir, rgb, day)['total']
        opt.zero_grad()
        total.backward()
        opt.step()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    steps_times = sorted(times[1:])
    out = {'model': model, 'precision': resolved.describe()
           + (' (losses in autocast too)' if whole_autocast and resolved.name != 'fp32'
              else ''), 'batch': cfg.batch,
           'patch': cfg.patch,
           's_per_step': steps_times[len(steps_times) // 2],
           'patches_per_s': cfg.batch / steps_times[len(steps_times) // 2],
           'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           'params': sum(p.numel() for p in objective.model.parameters()),
           'memory': memory}
    if device.startswith('cuda'):
        out['peak_gpu_mb'] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precisions', nargs='+', default=['fp32', 'auto'])
    parser.add_argument('--out', type=Path, default=None, help='also write the table here')
    parser.add_argument('--whole-autocast', action='store_true',
                        help='also time each reduced precision with the losses under autocast '
                             '(the trainer before the losses moved to fp32)')
    parser.add_argument('--memory', nargs='+', choices=['default', 'kept'], default=['kept'],
                        help="freed memory: glibc's default, or kept for reuse as the "
                             'trainer does (default: kept)')
    parser.add_argument('--one', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--precision', default='auto', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.device, args.precision,
                                 args.whole_autocast, args.memory[0])))
        return
    rows = []
    for model in args.models:
        runs = [(p, False) for p in args.precisions]
        if args.whole_autocast:
            runs += [(p, True) for p in args.precisions if p != 'fp32']
        for (precision, whole), memory in itertools.product(runs, args.memory):
            cmd = [sys.executable, __file__, '--one', model, '--steps', str(args.steps),
                   '--device', args.device, '--precision', precision, '--memory', memory,
                   *(['--whole-autocast'] if whole else [])]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f'{model} {precision}: failed: '
                      f'{done.stderr.strip().splitlines()[-1:]}', file=sys.stderr)
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    device = (torch.cuda.get_device_name(0) if args.device.startswith('cuda')
              else f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores')
    gpu_col = args.device.startswith('cuda')
    lines = [f'Training step cost on {device} (torch {torch.__version__}, '
             f'median of {args.steps} steps after one warm-up):', '',
             '| model | precision | freed memory | params | batch x patch | s/step | patches/s '
             '| peak RSS (MB) |' + (' peak GPU (MB) |' if gpu_col else ''),
             '|---|---|---|---:|---|---:|---:|---:|' + ('---:|' if gpu_col else '')]
    for r in rows:
        gpu = f' {r["peak_gpu_mb"]:.0f} |' if 'peak_gpu_mb' in r else ''
        lines.append(f'| {r["model"]} | {r["precision"]} | {r["memory"]} | {r["params"]:,d} | '
                     f'{r["batch"]} x {r["patch"]}² | '
                     f'{r["s_per_step"]:.3f} | {r["patches_per_s"]:.1f} | '
                     f'{r["peak_rss_mb"]:.0f} |{gpu}')
    table = '\n'.join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + '\n')


if __name__ == '__main__':
    main()

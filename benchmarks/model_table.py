#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Per-model speed and memory table: runs ``fusion-ros bench model --json`` once per model
and size, each in a fresh process (so the CPU peak-memory figure is that run's alone), and
prints a Markdown table.

    .venv/bin/python benchmarks/model_table.py [--models ...] [--sizes 640x480 ...]
        [--device cpu] [--out table.md]

Learned models run with random weights (same compute as trained ones). Heavy models get
fewer repeats: see HEAVY.
"""

import argparse
import json
import platform
import subprocess
import sys

import torch

from fusion_ros.models import list_models

SIZES = ('640x480', '640x512', '1280x1024')
HEAVY = {'didfuse', 'piafusion', 'dfvo'}  # seconds per frame on 2 CPU cores


def run_one(model: str, size: str, device: str) -> dict:
    big = size == '1280x1024'
    repeat, warmup = ((1, 0) if big else (2, 1)) if model in HEAVY else (20, 3)
    cmd = [sys.executable, '-m', 'fusion_ros.cli.main', 'bench', 'model', '--model', model,
           '--random-init', '--size', size, '--device', device, '--repeat', str(repeat),
           '--warmup', str(warmup), '--json']
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {'model': model, 'size': size, 'error': done.stderr.strip().splitlines()[-1:]}
    return {**json.loads(done.stdout), 'repeat': repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list_models())
    parser.add_argument('--sizes', nargs='+', default=list(SIZES))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', default=None, help='also write the table to this file')
    args = parser.parse_args()
    lines = [f'device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} '
             f'threads, {platform.processor() or platform.machine()}', '',
             '| model | params | size | ms median | ms p95 | frames/s | peak MB | runs |',
             '|---|---:|---|---:|---:|---:|---:|---:|']
    print('\n'.join(lines), flush=True)
    for model in args.models:
        for size in args.sizes:
            r = run_one(model, size, args.device)
            if 'error' in r:
                line = f"| {model} | | {size} | error: {r['error']} | | | | |"
            else:
                line = (f"| {model} | {r['params']:,d} | {size} | {r['ms_median']:.1f} | "
                        f"{r['ms_p95']:.1f} | {1000 / r['ms_median']:.2f} | "
                        f"{r['peak_mem_mb']:.0f} | {r['repeat']} |")
            print(line, flush=True)
            lines.append(line)
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Per-model speed and memory table: runs ``fusion-ros bench model --json`` once per model
and size, each in a fresh process (so the CPU peak-memory figure is that run's alone), and
prints a Markdown table.

    .venv/bin/python benchmarks/model_table.py [--models ...] [--sizes 640x480 ...]
        [--precisions fp32 auto] [--backends torch openvino onnxruntime] [--compile]
        [--device cpu] [--repeat N] [--out table.md]

Every precision of a model and size runs in the same table run (absolute times on shared
machines drift up to 2x between runs; compare within one), and each row says what ``auto``
resolved to. ``--backends`` runs each precision through each backend (the network exported
to ONNX and run by OpenVINO or ONNX Runtime; a combination a backend refuses, such as
ONNX Runtime in bf16, is left out); "vs fp32" is against torch fp32. ``--compile`` adds a
``torch.compile`` row per model and size (warm-up
includes the compilation). Learned models run with random weights (same compute as trained
ones). Heavy models get fewer repeats: see HEAVY.
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


def run_one(model: str, size: str, device: str, precision: str, compile_: bool = False,
            repeat: int | None = None, backend: str = 'torch') -> dict:
    big = size == '1280x1024'
    default_repeat, warmup = ((1, 0) if big else (2, 1)) if model in HEAVY else (20, 3)
    repeat = repeat or default_repeat
    if compile_:
        warmup = max(warmup, 1)  # the first frame compiles
    cmd = [sys.executable, '-m', 'fusion_ros.cli.main', 'bench', 'model', '--model', model,
           '--random-init', '--size', size, '--device', device, '--repeat', str(repeat),
           '--warmup', str(warmup), '--precision', precision, '--backend', backend, '--json',
           *(['--compile'] if compile_ else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {'model': model, 'size': size, 'error': done.stderr.strip().splitlines()[-1:]}
    return {**json.loads(done.stdout), 'repeat': repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list_models())
    parser.add_argument('--sizes', nargs='+', default=list(SIZES))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precisions', nargs='+', default=['fp32', 'auto'])
    parser.add_argument('--backends', nargs='+', default=['torch'],
                        help='torch, openvino, onnxruntime, auto (default: torch)')
    parser.add_argument('--compile', action='store_true', help='also a torch.compile row')
    parser.add_argument('--repeat', type=int, default=None, help='timed frames per row')
    parser.add_argument('--out', default=None, help='also write the table to this file')
    args = parser.parse_args()
    flags = set()
    if platform.system() == 'Linux':
        with open('/proc/cpuinfo') as f:
            flags = set(f.read().split()) & {'amx_tile', 'avx512_bf16', 'avx512f', 'avx2'}
    lines = [f'device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} '
             f'threads, {platform.processor() or platform.machine()}, CPU flags: '
             f'{" ".join(sorted(flags)) or "unknown"}', '',
             '| model | params | size | precision | ms median | ms p95 | frames/s | vs fp32 | '
             'peak MB | runs |',
             '|---|---:|---|---|---:|---:|---:|---:|---:|---:|']
    print('\n'.join(lines), flush=True)
    variants = [(p, False, b) for b in args.backends for p in args.precisions]
    if args.compile:
        variants.append(('auto', True, 'torch'))
    for model in args.models:
        for size in args.sizes:
            fp32_ms = None
            for precision, compiled, backend in variants:
                r = run_one(model, size, args.device, precision, compiled, args.repeat,
                            backend)
                if 'error' in r and backend != 'torch':
                    continue  # e.g. onnxruntime in bf16, or a model that does not export
                if 'error' in r:
                    line = f"| {model} | | {size} | {precision} | error: {r['error']} |" + ' |' * 5
                else:
                    if (r['precision'] == 'fp32' and not compiled and fp32_ms is None
                            and r['backend'] == 'torch'):
                        fp32_ms = r['ms_median']
                    text = (f"{r['backend']} {r['precision_text']}"
                            + (' compiled' if r['compiled'] else ''))
                    if compiled and not r['compiled']:
                        text += f" (compile failed: {r['compile_error']})"
                    gain = f'{fp32_ms / r["ms_median"]:.2f}x' if fp32_ms else ''
                    line = (f"| {model} | {r['params']:,d} | {size} | {text} | "
                            f"{r['ms_median']:.1f} | {r['ms_p95']:.1f} | "
                            f"{1000 / r['ms_median']:.2f} | {gain} | "
                            f"{r['peak_mem_mb']:.0f} | {r['repeat']} |")
                print(line, flush=True)
                lines.append(line)
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The fusion node on a busy computer: ``fusion-ros bench pipeline`` with the old default
(one thread per usable CPU) against ``threads auto``, on a quiet machine and with busy
loops holding CPUs (``--load``), for each ``--backends`` (default: the node's ``auto``), runs
interleaved back to back so drift hits every column alike. Prints a markdown table (median
and range over the runs) for docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/busy_computer.py [--models fastfusion piafusion] [--runs 3]
        [--rate 20] [--loads 0 1] [--backends torch openvino] [--settings auto]
        [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from fusion_ros.threads import usable_cpus


def run_once(model: str, threads: str, load: int, rate: float, seconds: float,
             backend: str) -> dict:
    cmd = [sys.executable, '-m', 'fusion_ros', 'bench', 'pipeline', '--model', model,
           '--size', '640x512', '--rate', str(rate), '--seconds', str(seconds),
           '--threads', threads, '--load', str(load), '--backend', backend, '--json']
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'})
    if done.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cell(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return f'{med:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})' if len(values) > 1 \
        else f'{med:{fmt}}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['fastfusion'])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--rate', type=float, default=20.0)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--loads', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--backends', nargs='+', default=['auto'])
    parser.add_argument('--settings', nargs='+', default=['old default', 'auto'],
                        choices=['old default', 'auto'])
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    old_default = str(usable_cpus())  # torch's own default: one thread per usable CPU
    settings = [(name, old_default if name == 'old default' else 'auto')
                for name in args.settings]
    rows: dict[tuple[str, str, str, int], list[dict]] = {}
    for run in range(args.runs):
        for model in args.models:
            for backend in args.backends:
                for load in args.loads:
                    for name, threads in settings:
                        result = run_once(model, threads, load, args.rate, args.seconds,
                                          backend)
                        rows.setdefault((model, backend, name, load), []).append(result)
                        print(f'run {run + 1}: {model} {backend} {name} load {load}: '
                              f"{result['fused_out']}/{result['pairs_in']} fused, p50 "
                              f"{result['latency_p50_ms']:.1f} ms, node "
                              f"{result['node_threads']}", file=sys.stderr, flush=True)
    lines = ['| model | backend | threads | busy loops | fused / pairs | latency p50 (ms) | '
             'engine in the node p50 (ms) |', '|---|---|---|---:|---|---:|---:|']
    for (model, backend, name, load), results in rows.items():
        fused = [r['fused_out'] for r in results]
        pairs = results[0]['pairs_in']
        lines.append(
            f"| {model} | {backend} | {name}: {results[0]['node_threads']} | {load} | "
            f"{_cell(fused, '.0f')} / {pairs} | "
            f"{_cell([r['latency_p50_ms'] for r in results], '.1f')} | "
            f"{_cell([r['node_engine_ms_median'] or float('nan') for r in results], '.1f')} |")
    table = '\n'.join(lines)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()

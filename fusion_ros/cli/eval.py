# SPDX-License-Identifier: Apache-2.0
"""Evaluate fused images with the standard fusion metrics and write a report.

Sources and fused images are paired by file stem (01.png with 01.jpg). Colour images are
evaluated on their luminance (MATLAB rgb2gray). Writes OUT/per_image.csv (method, image,
one column per metric), OUT/summary.md (mean ± std, best per column in bold),
OUT/summary.csv, OUT/means.png and OUT/boxplots.png. Missing pairs and size mismatches
are listed by name in summary.md and on stderr, never skipped silently.

Conventions: "tang" reproduces the MATLAB code behind the published tables (PSNR ~60 dB,
MI/CC/SD/VIF quirks included); "standard" uses textbook definitions.

Examples:
    fusion-ros eval --ir tno/ir --vi tno/vi --fused mine=out/fused --out report
    fusion-ros eval --benchmark tno42 --fused mine=out/fused --out report
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCHMARKS = {'tno42': 'data/benchmarks/tno42'}


def _named_dir(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f'expected NAME=DIR, got {text!r}')
    return name, Path(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fusion_ros.metrics.fusion_metrics import CONVENTIONS, METRICS

    parser.add_argument('--ir', type=Path, help='folder of infrared source images')
    parser.add_argument('--vi', type=Path, help='folder of visible source images')
    parser.add_argument('--fused', type=_named_dir, action='append', default=[],
                        metavar='NAME=DIR', help='a method and its fused images (repeatable)')
    parser.add_argument('--benchmark', metavar='NAME_OR_DIR',
                        help='evaluate a benchmark with its published methods: "tno42" '
                             '(from $FUSION_ROS_SHARED, default ../shared) or a folder with '
                             'ir/, vi/ and methods/<name>/')
    parser.add_argument('--metrics', nargs='+', default=list(METRICS), choices=list(METRICS),
                        metavar='M', help=f'metrics (default: all: {" ".join(METRICS)})')
    parser.add_argument('--convention', choices=CONVENTIONS, default='tang',
                        help='metric conventions (default: tang)')
    parser.add_argument('--out', type=Path, required=True, help='report folder')
    parser.add_argument('--jobs', type=int, default=0,
                        help='worker processes (default: one per core)')


def _benchmark_dir(value: str) -> Path:
    from fusion_ros.errors import ConfigError, UsageError

    if value in BENCHMARKS:
        shared = Path(os.environ.get('FUSION_ROS_SHARED', '../shared'))
        path = shared / BENCHMARKS[value]
        if not path.is_dir():
            raise ConfigError(f'benchmark {value!r} not found at {str(path)!r}; set '
                              'FUSION_ROS_SHARED to the folder holding data/benchmarks')
        return path
    path = Path(value)
    if not (path / 'ir').is_dir():
        raise UsageError(f'--benchmark {value!r} is neither a known benchmark '
                         f'({", ".join(BENCHMARKS)}) nor a folder with ir/, vi/ and methods/')
    return path


def run(args: argparse.Namespace) -> int:
    from fusion_ros.cli._args import check_output_folder
    from fusion_ros.errors import UsageError
    from fusion_ros.metrics.report import evaluate, find_tasks, write_report

    fused = dict(args.fused)
    ir_dir, vi_dir = args.ir, args.vi
    if args.benchmark:
        bench = _benchmark_dir(args.benchmark)
        ir_dir, vi_dir = ir_dir or bench / 'ir', vi_dir or bench / 'vi'
        methods = bench / 'methods'
        published = {p.name: p for p in sorted(methods.iterdir()) if p.is_dir()} \
            if methods.is_dir() else {}
        fused = {**published, **fused}
    if ir_dir is None or vi_dir is None:
        raise UsageError('give --ir and --vi, or --benchmark')
    if not fused:
        raise UsageError('nothing to evaluate: give --fused NAME=DIR (or --benchmark)')
    check_output_folder(args.out)  # before the work, not after it
    tasks, problems = find_tasks(ir_dir, vi_dir, fused)
    start = time.perf_counter()
    rows, failed = evaluate(tasks, args.metrics, args.convention, jobs=args.jobs)
    problems += failed
    paths = write_report(args.out, rows, problems, args.metrics, args.convention)
    elapsed = time.perf_counter() - start
    for p in problems:
        print(f'warning: {p.method} / {p.image}: {p.reason}', file=sys.stderr)
    print(paths['summary'].read_text())
    print(f'{len(rows)} images x {len(args.metrics)} metrics in {elapsed:.1f} s; '
          f'report in {args.out}/ ({", ".join(p.name for p in paths.values())})')
    return 0 if rows else 1

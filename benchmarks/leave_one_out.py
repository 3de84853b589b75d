#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Leave one set out: train a model with its own recipe on every shared pair set but one,
then score it on every pair of the one left out (never trained on, never used to choose
anything), beside the classical baselines and the shipped file, for each set in turn.

    .venv/bin/python benchmarks/leave_one_out.py --model fastfusion \\
        [--sets llvip roadscene msrs] [--runs runs/loo] [--metrics Qabf VIF] \\
        [--train-args "--threads 1 --config config/train/X.yaml"] [--out table.md] \\
        [--no-shipped]

Nested, to choose between recipes without the set an outer fold reports: ``--among`` names
the sets in play, so ``--among roadscene msrs --sets msrs`` trains on RoadScene alone and
scores MSRS, a validation for the leave-LLVIP-out fold that has night pairs of another rig
in it and never sees LLVIP.

Each run folder (``RUNS/MODEL-without-SET``) is reused when it holds a finished run and
resumed when it holds an interrupted one, so the script can be stopped and started again.
Only the fusion stage is trained (FastFusion's stage 2 retrains its day head alone and
leaves the fused image bit for bit the same).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import METRICS, score_table

from fusion_ros.training.sources import load_sources

SETS = ('llvip', 'roadscene', 'msrs')


def shared_pairs() -> Path:
    return Path(os.environ.get('FUSION_ROS_SHARED', '../shared')) / 'data' / 'pairs'


def train_without(model: str, left_out: str, sets: list[str], run: Path,
                  extra: list[str]) -> Path:
    """Train ``model`` on ``sets`` except ``left_out`` into ``run``; its best checkpoint."""
    if (run / 'final.pt').is_file():
        print(f'{run}: finished run reused', flush=True)
        return run / 'best.pt'
    data = [a for s in sets if s != left_out for a in ('--data', str(shared_pairs() / s))]
    cmd = [sys.executable, '-m', 'fusion_ros', 'train', model, *data, '--out', str(run),
           '--no-progress', *extra]
    if (run / 'last.pt').is_file():
        cmd.append('--resume')
    print('$ ' + shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return run / 'best.pt'


def run_name(model: str, left_out: str, among: list[str]) -> str:
    """``MODEL-without-SET`` when every set is in play, else ``MODEL-on-A+B`` (the sets
    trained on), so nested runs never reuse an outer fold's folder."""
    if set(among) == set(SETS):
        return f'{model}-without-{left_out}'
    return f'{model}-on-' + '+'.join(s for s in SETS if s in among and s != left_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='fastfusion')
    parser.add_argument('--sets', nargs='+', default=list(SETS), choices=SETS,
                        help='the sets left out in turn (all three are trained on otherwise)')
    parser.add_argument('--among', nargs='+', default=list(SETS), choices=SETS,
                        help='the sets in play (default all): train on these but the one left out')
    parser.add_argument('--runs', type=Path, default=Path('runs/loo'))
    parser.add_argument('--metrics', nargs='+', default=['Qabf', 'VIF', 'SF', 'AG'],
                        choices=METRICS)
    parser.add_argument('--train-args', default='', help='more `fusion-ros train` arguments')
    parser.add_argument('--out', type=Path, default=None)
    parser.add_argument('--no-shipped', action='store_true',
                        help="leave out the shipped file's row (it trained on the set left "
                             'out, so it is only a reference): half the time of a slow model')
    args = parser.parse_args()
    tables, failed = [], []
    for left_out in args.sets:
        if left_out not in args.among or len(args.among) < 2:
            parser.error(f'{left_out}: leave out one of --among, and keep one to train on')
        run = args.runs / run_name(args.model, left_out, args.among)
        try:
            best = train_without(args.model, left_out, args.among, run,
                                 shlex.split(args.train_args))
        except subprocess.CalledProcessError as err:  # its error line is printed above
            print(f'{left_out} left out: training failed (exit {err.returncode}), not '
                  'scored', file=sys.stderr, flush=True)
            failed.append(left_out)
            continue
        pairs = load_sources([str(shared_pairs() / left_out)])
        runs = {run.name: (args.model, str(best))}
        if not args.no_shipped:
            runs = {args.model: (args.model, None), **runs}
        tables.append(score_table(pairs, runs, tuple(args.metrics),
                                  what=f'{left_out} left out: every pair of it'))
        print(tables[-1], flush=True)
    text = '\n\n'.join(tables)
    print(text)
    if args.out:
        args.out.write_text(text + '\n')
    if failed:
        sys.exit(f'not scored: {" ".join(failed)} left out (training failed)')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Leave one set out: train a model with its own recipe on every shared pair set but one,
then score it on every pair of the one left out (never trained on, never used to choose
anything), beside the classical baselines and the shipped file, for each set in turn.

    .venv/bin/python benchmarks/leave_one_out.py --model fastfusion \\
        [--sets llvip roadscene msrs] [--runs runs/loo] [--metrics Qabf VIF] \\
        [--train-args "--threads 1 --config config/train/X.yaml"] [--out table.md] \\
        [--no-shipped] [--seeds 0 1 2 --jobs 2]

Nested, to choose between recipes without the set an outer fold reports: ``--among`` names
the sets in play, so ``--among roadscene msrs --sets msrs`` trains on RoadScene alone and
scores MSRS, a validation for the leave-LLVIP-out fold that has night pairs of another rig
in it and never sees LLVIP.

One seed moves a fold's score by as much as most recipe changes, so ``--seeds`` trains each
fold once per seed (``RUNS/MODEL-without-SET-seedS``; ``--jobs 2`` two at a time, each with
``--threads 1`` in ``--train-args``) and adds a table of the seeds' mean, standard deviation
and margin over the best classical baseline.

Each run folder (``RUNS/MODEL-without-SET``) is reused when it holds a finished run and
resumed when it holds an interrupted one, so the script can be stopped and started again.
Only the fusion stage is trained (FastFusion's stage 2 retrains its day head alone and
leaves the fused image bit for bit the same).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import BASELINES, METRICS, Scores, score

from fusion_ros.training.sources import load_sources

SETS = ('llvip', 'roadscene', 'msrs')


def shared_pairs() -> Path:
    return Path(os.environ.get('FUSION_ROS_SHARED', '../shared')) / 'data' / 'pairs'


def train_command(model: str, left_out: str, sets: list[str], run: Path,
                  extra: list[str]) -> list[str] | None:
    """The command that trains ``model`` on ``sets`` except ``left_out`` into ``run`` (it
    resumes an interrupted run); None when ``run`` holds a finished one."""
    if (run / 'final.pt').is_file():
        print(f'{run}: finished run reused', flush=True)
        return None
    data = [a for s in sets if s != left_out for a in ('--data', str(shared_pairs() / s))]
    cmd = [sys.executable, '-m', 'fusion_ros', 'train', model, *data, '--out', str(run),
           '--no-progress', *extra]
    if (run / 'last.pt').is_file():
        cmd.append('--resume')
    return cmd


def train_runs(commands: dict[Path, list[str] | None], jobs: int) -> list[Path]:
    """Run the training commands, ``jobs`` at a time (each with its own log, RUN.log, when
    more than one); the runs whose training failed."""
    pending = [(run, cmd) for run, cmd in commands.items() if cmd]
    active: list[tuple[Path, subprocess.Popen, object]] = []
    failed: list[Path] = []
    while pending or active:
        while pending and len(active) < jobs:
            run, cmd = pending.pop(0)
            print('$ ' + shlex.join(cmd), flush=True)
            log = None
            if jobs > 1:
                run.parent.mkdir(parents=True, exist_ok=True)
                log = (run.parent / f'{run.name}.log').open('a')
            active.append((run, subprocess.Popen(cmd, stdout=log, stderr=log), log))
        time.sleep(0.2 if jobs == 1 else 5.0)
        for item in list(active):
            run, proc, log = item
            if proc.poll() is None:
                continue
            active.remove(item)
            if log is not None:
                log.close()
            if proc.returncode:  # its error line is in its output
                print(f'{run}: training failed (exit {proc.returncode}), not scored',
                      file=sys.stderr, flush=True)
                failed.append(run)
    return failed


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
    parser.add_argument('--seeds', nargs='+', type=int, default=[],
                        help='train each fold once per seed (RUNS/MODEL-without-SET-seedS) '
                             'and add a table of their mean, spread and margin')
    parser.add_argument('--jobs', type=int, default=1,
                        help='training runs at a time (give each `--threads 1` in '
                             '--train-args); their output goes to RUNS/RUN.log')
    parser.add_argument('--no-shipped', action='store_true',
                        help="leave out the shipped file's row (it trained on the set left "
                             'out, so it is only a reference): half the time of a slow model')
    args = parser.parse_args()
    extra = shlex.split(args.train_args)
    if args.seeds and '--seed' in extra:
        parser.error('give the seeds with --seeds, not in --train-args')
    if args.jobs < 1:
        parser.error('--jobs must be >= 1')
    for left_out in args.sets:
        if left_out not in args.among or len(args.among) < 2:
            parser.error(f'{left_out}: leave out one of --among, and keep one to train on')
    # every run of every fold first (``--jobs`` at a time), then the scoring
    folds: dict[str, dict[str, Path]] = {}  # left out -> label -> run
    commands: dict[Path, list[str] | None] = {}
    for left_out in args.sets:
        name = run_name(args.model, left_out, args.among)
        folds[left_out] = {}
        for seed in args.seeds or [None]:
            label = name if seed is None else f'{name}-seed{seed}'
            run = args.runs / label
            folds[left_out][label] = run
            commands[run] = train_command(
                args.model, left_out, args.among, run,
                extra if seed is None else [*extra, '--seed', str(seed)])
    failed = train_runs(commands, args.jobs)
    tables = []
    for left_out, runs in folds.items():
        done = {label: (args.model, str(run / 'best.pt'))
                for label, run in runs.items() if run not in failed}
        if not done:
            continue
        if not args.no_shipped:
            done = {args.model: (args.model, None), **done}
        pairs = load_sources([str(shared_pairs() / left_out)])
        scores = score(pairs, done, tuple(args.metrics),
                       what=f'{left_out} left out: every pair of it')
        tables.append(scores.table())
        if args.seeds:
            trained = {label: f'seed {seed}' for label, seed in zip(runs, args.seeds)
                       if label in done}
            tables.append(seed_summary(scores, trained))
        print(tables[-1], flush=True)
    text = '\n\n'.join(tables)
    print(text)
    if args.out:
        args.out.write_text(text + '\n')
    if failed:
        sys.exit('not scored: ' + ' '.join(str(run) for run in failed) + ' (training failed)')


def seed_summary(scores: Scores, labels: dict[str, str]) -> str:
    """Per source set and metric: each seed's run (``labels``: run label -> column), their
    mean and standard deviation, and the mean's margin over the best classical baseline
    (every metric here: higher is better). One seed moves a fold by as much as most recipe
    changes (FastFusion's card, session 34), so a recipe's fold result is the mean of
    several."""
    subsets = sorted({subset for subset, _ in scores.means})
    seeds = f'{len(labels)} seed' + ('s' if len(labels) > 1 else '')
    lines = [f'Over {seeds} ({", ".join(labels)}): every pair of the set left out',
             '',
             '| set | metric | ' + ' | '.join(labels.values())
             + ' | mean | sd | best baseline | mean - baseline |',
             '|---|---|' + '---:|' * (len(labels) + 4)]
    for subset in subsets:
        for metric in scores.metrics:
            values = np.array([scores.means[(subset, label)][metric] for label in labels])
            baseline, best = max(((scores.means[(subset, b)][metric], b) for b in BASELINES
                                  if (subset, b) in scores.means), default=(math.nan, '-'))
            sd = f'{values.std(ddof=1):.4g}' if len(values) > 1 else '-'
            lines.append(f'| {subset} | {metric} | '
                         + ' | '.join(f'{v:.4g}' for v in values)
                         + f' | {values.mean():.4g} | {sd} | {best} {baseline:.4g} | '
                         f'{values.mean() - baseline:+.4f} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()

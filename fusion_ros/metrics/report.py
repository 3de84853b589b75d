# SPDX-License-Identifier: Apache-2.0
"""Evaluate fused-image folders against their sources: per-image CSV, Markdown summary, plots."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion_ros.errors import ConfigError, ShapeError
from fusion_ros.io.image_files import pair_folders, read_image, stem_index
from fusion_ros.metrics.fusion_metrics import compute_metrics

__all__ = ['EvalProblem', 'EvalTask', 'LOWER_IS_BETTER', 'evaluate', 'find_tasks',
           'write_report']

LOWER_IS_BETTER = frozenset({'MSE'})


@dataclass(frozen=True)
class EvalTask:
    method: str
    image: str
    ir: Path
    vi: Path
    fused: Path


@dataclass(frozen=True)
class EvalProblem:
    """A pair that could not be evaluated, with the reason (never skipped silently)."""

    method: str
    image: str
    reason: str


def find_tasks(ir_dir: Path, vi_dir: Path, fused: dict[str, Path]
               ) -> tuple[list[EvalTask], list[EvalProblem]]:
    """Pair source and fused images by file stem (a fused ``01.png`` for a source
    ``01.jpg``); report every missing counterpart and ambiguous stem by name."""
    pairs, unmatched = pair_folders(ir_dir, vi_dir)
    if not pairs and not unmatched:
        raise ConfigError(f'no images in {str(ir_dir)!r}')
    tasks = []
    problems = [EvalProblem('-', name, reason) for name, reason in unmatched]
    stems = {Path(name).stem for name in pairs}
    for method, folder in fused.items():
        images, ambiguous = stem_index(folder)
        problems += [EvalProblem(method, name, reason) for name, reason in ambiguous]
        for name, (ir, vi) in pairs.items():
            stem = Path(name).stem
            if stem in images:
                tasks.append(EvalTask(method, name, ir, vi, images[stem]))
            else:
                problems.append(EvalProblem(method, name, f'no fused image in {folder}'))
        for stem in sorted(set(images) - stems):
            problems.append(EvalProblem(method, images[stem].name,
                                        'fused image has no source pair'))
    return tasks, problems


def _read(path: Path) -> np.ndarray:
    img = read_image(path)
    if img.dtype != np.uint8:
        raise ShapeError(f'{str(path)!r} is {img.dtype}; the metrics take 8-bit images')
    return img


def _run(args: tuple[EvalTask, Sequence[str], str]) -> tuple[EvalTask, dict | str]:
    task, metrics, convention = args
    try:
        values = compute_metrics(_read(task.ir), _read(task.vi), _read(task.fused), metrics,
                                 convention)
    except ShapeError as err:
        return task, str(err)
    return task, values


def evaluate(tasks: Sequence[EvalTask], metrics: Sequence[str], convention: str,
             jobs: int = 0, progress: bool = True
             ) -> tuple[list[dict], list[EvalProblem]]:
    """Compute the metrics for every task (in ``jobs`` processes; 0 = one per core)."""
    from tqdm import tqdm

    jobs = jobs or os.cpu_count() or 1
    work = [(t, list(metrics), convention) for t in tasks]
    rows, problems = [], []
    bar = tqdm(total=len(work), desc='eval', unit='img', disable=not progress)
    if jobs == 1:
        results = map(_run, work)
        pool = None
    else:
        pool = ProcessPoolExecutor(jobs)
        results = pool.map(_run, work, chunksize=4)
    try:
        for task, out in results:
            if isinstance(out, str):
                problems.append(EvalProblem(task.method, task.image, out))
            else:
                rows.append({'method': task.method, 'image': task.image, **out})
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return rows, problems


def summarise(rows: Sequence[dict], metrics: Sequence[str]) -> dict[str, dict[str, tuple]]:
    """``{method: {metric: (mean, std)}}`` in first-seen method order."""
    out: dict[str, dict[str, tuple]] = {}
    for method in dict.fromkeys(r['method'] for r in rows):
        vals = [r for r in rows if r['method'] == method]
        out[method] = {m: (float(np.mean([r[m] for r in vals])),
                           float(np.std([r[m] for r in vals]))) for m in metrics}
    return out


def write_report(out_dir: Path, rows: Sequence[dict], problems: Sequence[EvalProblem],
                 metrics: Sequence[str], convention: str) -> dict[str, Path]:
    """Write per_image.csv, summary.md, summary.csv, means.png and boxplots.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'per_image': out_dir / 'per_image.csv', 'summary': out_dir / 'summary.md',
             'summary_csv': out_dir / 'summary.csv'}
    with open(paths['per_image'], 'w', newline='') as f:
        writer = csv.DictWriter(f, ['method', 'image', *metrics])
        writer.writeheader()
        writer.writerows(rows)
    stats = summarise(rows, metrics)
    with open(paths['summary_csv'], 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['method', 'images'] + [f'{m}_{k}' for m in metrics
                                                for k in ('mean', 'std')])
        for method, s in stats.items():
            n = sum(r['method'] == method for r in rows)
            writer.writerow([method, n] + [v for m in metrics for v in s[m]])
    paths['summary'].write_text(_markdown(stats, rows, problems, metrics, convention))
    if rows:
        paths.update(_plots(out_dir, stats, rows, metrics))
    return paths


def _best(stats: dict, metric: str) -> str:
    pick = min if metric in LOWER_IS_BETTER else max
    return pick(stats, key=lambda method: stats[method][metric][0])


def _markdown(stats, rows, problems, metrics, convention) -> str:
    lines = [f'# Fusion metrics ({convention} convention)', '',
             'Mean ± standard deviation over the images; **bold** is the best per column '
             f'(lower is better for {", ".join(sorted(LOWER_IS_BETTER))}, higher otherwise).', '',
             '| method | images | ' + ' | '.join(metrics) + ' |',
             '|---|---:|' + '---:|' * len(metrics)]
    best = {m: _best(stats, m) for m in metrics} if stats else {}
    for method, s in stats.items():
        n = sum(r['method'] == method for r in rows)
        cells = []
        for m in metrics:
            text = f'{s[m][0]:.4f} ± {s[m][1]:.4f}'
            cells.append(f'**{text}**' if best[m] == method else text)
        lines.append(f'| {method} | {n} | ' + ' | '.join(cells) + ' |')
    if problems:
        lines += ['', f'## Not evaluated ({len(problems)})', '']
        lines += [f'- {p.method} / {p.image}: {p.reason}' for p in problems]
    return '\n'.join(lines) + '\n'


def _plots(out_dir: Path, stats, rows, metrics) -> dict[str, Path]:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    methods = list(stats)
    cols = min(4, len(metrics))
    nrows = -(-len(metrics) // cols)
    colours = plt.get_cmap('tab10')(np.arange(len(methods)) % 10)
    out = {}
    for kind in ('means', 'boxplots'):
        fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
        for ax, m in zip(axes.ravel(), metrics):
            if kind == 'means':
                ax.bar(range(len(methods)), [stats[k][m][0] for k in methods],
                       yerr=[stats[k][m][1] for k in methods], color=colours, capsize=2)
            else:
                ax.boxplot([[r[m] for r in rows if r['method'] == k] for k in methods],
                           showfliers=False)
                ax.set_xticks(range(1, len(methods) + 1))
            ax.set_xticks(range(len(methods)) if kind == 'means' else
                          range(1, len(methods) + 1))
            ax.set_xticklabels(methods, rotation=60, ha='right', fontsize=8)
            arrow = '↓' if m in LOWER_IS_BETTER else '↑'
            ax.set_title(f'{m} {arrow}')
            ax.grid(axis='y', alpha=0.3)
        for ax in axes.ravel()[len(metrics):]:
            ax.axis('off')
        fig.suptitle('mean ± std per method' if kind == 'means' else 'distribution per image')
        fig.tight_layout()
        path = out_dir / f'{kind}.png'
        fig.savefig(path, dpi=80)
        plt.close(fig)
        out[kind] = path
    return out

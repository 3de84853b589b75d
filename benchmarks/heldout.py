#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fusion quality on the pairs a training run held out (its seeded validation split),
per source set, for trained models beside the classical baselines; plus, for models with
an enhancement head, mean luminance and noise of the input vs the enhanced night frames.

    .venv/bin/python benchmarks/heldout.py RUN_DIR [--models piafusion ...] [--out table.md]
    .venv/bin/python benchmarks/heldout.py --data ../shared/data/pairs/llvip \
        --models fastfusion new=fastfusion:runs/ff/best.pt --metrics Qabf VIF
    .venv/bin/python benchmarks/heldout.py RUN_DIR --models dfvo --option dfvo:variant=full

RUN_DIR/config.yaml names the data and the split (val_fraction, seed), so the pairs are
exactly the ones the run never trained on; ``--data SPEC`` scores every pair of a set
instead (e.g. LLVIP-32). A model given as ``LABEL=MODEL:PATH`` runs with the weights in
PATH (a candidate beside the shipped file); ``--option LABEL:KEY=VALUE`` passes a model
option (DFVO's ``variant=full`` keeps its enhancement head). ``--night-copies`` also scores
each pair not labelled night as a camera would see it at night (``training.data.darken``,
seeded by the pair's position), as the set ``SET+dark``: validation pairs of day streets
that can speak for night. ``--resize-copies F ...`` also scores each pair resized by F, as
the set ``SET xF``: a camera of another frame size (LLVIP's frames have 3.4x the short side
of RoadScene's), where a network of a small receptive field may lose the edges it keeps at
the size it trained on; ``--first N`` scores the first N pairs only (large copies are
slow). Metrics: tang convention,
full-size images, the engine's default precision. Noise: median absolute Laplacian of the
luminance.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from fusion_ros.cli._args import model_option
from fusion_ros.engine import FusionEngine
from fusion_ros.metrics import compute_metrics
from fusion_ros.training.data import darken, resized, split_validation
from fusion_ros.training.sources import load_sources

METRICS = ('EN', 'SD', 'SF', 'AG', 'MI', 'VIF', 'Qabf')
BASELINES = ('average', 'max', 'laplacian')


def heldout_pairs(run: Path):
    cfg = yaml.safe_load((run / 'config.yaml').read_text())
    pairs = load_sources(cfg['data'], exclude=cfg.get('exclude', []))
    _, held = split_validation(pairs, cfg.get('val_fraction', 0.1), cfg.get('seed', 0))
    return held


def _set_of(pair) -> str:
    path = str(pair.thermal_path or pair.name)
    return next((s for s in ('llvip', 'msrs', 'roadscene') if f'/{s}/' in path), 'other')


def _noise(y: np.ndarray) -> float:
    return float(np.median(np.abs(cv2.Laplacian(y.astype(np.float32), cv2.CV_32F))))


def _model_spec(text: str) -> tuple[str, tuple[str, str | None]]:
    """``MODEL`` (shipped weights) or ``LABEL=MODEL:PATH``."""
    if '=' not in text:
        return text, (text, None)
    label, spec = text.split('=', 1)
    model, _, path = spec.partition(':')
    return label, (model, path or None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run', type=Path, nargs='?', help='a training run (its held-out pairs)')
    parser.add_argument('--data', action='append', default=[], metavar='SPEC',
                        help="score every pair of these sources instead of a run's split")
    parser.add_argument('--models', nargs='+', default=['piafusion'])
    parser.add_argument('--metrics', nargs='+', default=list(METRICS), choices=METRICS)
    parser.add_argument('--option', action='append', default=[], metavar='LABEL:KEY=VALUE',
                        help='a model option for one label (yaml value), e.g. dfvo:variant=full')
    parser.add_argument('--night-copies', action='store_true',
                        help='also score a synthetic night copy of every pair not labelled night')
    parser.add_argument('--resize-copies', nargs='+', type=float, default=[], metavar='F',
                        help='also score a copy of every pair resized by each factor F')
    parser.add_argument('--first', type=int, default=None, metavar='N',
                        help='score the first N pairs only')
    parser.add_argument('--out', type=Path, default=None)
    args = parser.parse_args()
    if any(f <= 0 for f in args.resize_copies) or (args.first is not None and args.first < 1):
        parser.error('--resize-copies factors must be > 0 and --first >= 1')
    options: dict[str, dict] = defaultdict(dict)
    for text in args.option:
        label, _, item = text.partition(':')
        try:
            key, value = model_option(item)
        except argparse.ArgumentTypeError as err:
            parser.error(f'--option takes LABEL:KEY=VALUE ({err})')
        options[label][key] = value
    if (args.run is None) == (not args.data):
        parser.error('give a RUN_DIR or --data, not both')
    runs = dict(_model_spec(m) for m in args.models)  # label -> (model, weights or None)
    held = heldout_pairs(args.run) if args.run else load_sources(args.data)
    held = held[:args.first]
    what = f'Held-out pairs of {args.run}' if args.run else 'Pairs of ' + ', '.join(args.data)
    table = score_table(held, runs, tuple(args.metrics), options, what, args.night_copies,
                        tuple(args.resize_copies))
    print(table)
    if args.out:
        args.out.write_text(table + '\n')


def _inputs(held: list, night_copies: bool, resize_copies: tuple[float, ...] = ()):
    """(set, thermal, RGB) in [0, 1] of every pair, each followed by its synthetic night
    copy and its copies resized by each factor of ``resize_copies``."""
    for i, pair in enumerate(held):
        ir_f, rgb_f = pair.load()
        # a labelled set (MSRS) is scored by light too: its day and night pairs differ most
        light = {None: '', True: ' night', False: ' day'}[pair.is_night]
        yield _set_of(pair) + light, ir_f, rgb_f
        if night_copies and not pair.is_night:
            dark = darken(rgb_f.transpose(2, 0, 1), np.random.default_rng((7, i)))
            yield _set_of(pair) + '+dark', ir_f, dark.transpose(1, 2, 0)
        h, w = ir_f.shape[:2]
        for factor in resize_copies:
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            yield (_set_of(pair) + light + f' x{factor:g}', resized(ir_f, size),
                   resized(rgb_f, size))


@dataclass
class Scores:
    """Per (source set, method): the mean of each metric over its pairs; per model with an
    enhancement head, (input, enhanced) luminance and noise on each LLVIP night pair."""

    what: str
    held: list
    metrics: tuple[str, ...]
    means: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    light: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)

    def table(self) -> str:
        """A Markdown table of the means, then the enhanced output's light and noise."""
        held = self.held
        lines = [f'{self.what} ({len(held)}: '
                 + ', '.join(f'{s} {sum(_set_of(p) == s for p in held)}'
                             for s in sorted({_set_of(p) for p in held})) + ')', '',
                 '| set | method | ' + ' | '.join(self.metrics) + ' |',
                 '|---|---|' + '---:|' * len(self.metrics)]
        for (subset, name), means in sorted(self.means.items()):
            lines.append(f'| {subset} ({self.counts[(subset, name)]}) | {name} | '
                         + ' | '.join(f'{means[m]:.4g}' for m in self.metrics) + ' |')
        for name, rows in self.light.items():
            a = np.array(rows)
            lines += ['', f'{name} enhanced output on the held-out LLVIP night pairs ({len(a)}): '
                      f'mean luminance {a[:, 0].mean():.1f} -> {a[:, 1].mean():.1f}, noise '
                      f'(median |Laplacian|) {a[:, 2].mean():.2f} -> {a[:, 3].mean():.2f}']
        return '\n'.join(lines)


def score(held: list, runs: dict[str, tuple[str, str | None]], metrics: tuple[str, ...],
          options: dict[str, dict] | None = None, what: str = 'Pairs',
          night_copies: bool = False, resize_copies: tuple[float, ...] = ()) -> Scores:
    """Fuse ``held`` (and with ``night_copies`` a darkened copy of each pair not labelled
    night) with every model of ``runs`` (label -> (model, weights or None)) and the
    baselines, and score every fused image."""
    options = options or {}
    scores: dict[tuple[str, str], list[dict]] = defaultdict(list)
    light: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for name in (*runs, *BASELINES):
        model, weights = runs.get(name, (name, None))
        engine = FusionEngine(model, enhanced=True, weights=weights,
                              model_options=options.get(name) or None)
        for subset, ir_f, rgb_f in _inputs(held, night_copies, resize_copies):
            ir = np.rint(ir_f * 255).astype(np.uint8)
            rgb = np.rint(rgb_f * 255).astype(np.uint8)
            res = engine.fuse(ir, rgb)
            vi_grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            fused = cv2.cvtColor(res.fused, cv2.COLOR_RGB2GRAY)
            scores[(subset, name)].append(compute_metrics(ir, vi_grey, fused, metrics))
            if name in runs and res.enhanced is not None and subset == 'llvip':
                en = cv2.cvtColor(res.enhanced, cv2.COLOR_RGB2GRAY)
                light[name].append((vi_grey.mean(), en.mean(), _noise(vi_grey), _noise(en)))
        print(f'{name} done ({engine.describe()})', flush=True)
    return Scores(what, list(held), metrics,
                  {key: {m: float(np.nanmean([r[m] for r in rows])) for m in metrics}
                   for key, rows in scores.items()},
                  {key: len(rows) for key, rows in scores.items()}, dict(light))


def score_table(held: list, runs: dict[str, tuple[str, str | None]], metrics: tuple[str, ...],
                options: dict[str, dict] | None = None, what: str = 'Pairs',
                night_copies: bool = False, resize_copies: tuple[float, ...] = ()) -> str:
    """:func:`score` as a Markdown table of the mean of each metric per source set."""
    return score(held, runs, metrics, options, what, night_copies, resize_copies).table()

if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How much of FastFusion's fused base comes from the thermal image, per source set and
checkpoint: the diagnosis of issue 39's seed spread on a night street no run trained on.

    .venv/bin/python benchmarks/base_share.py --data ../shared/data/pairs/llvip \
        --data ../shared/data/pairs/roadscene \
        --models s0=runs/a/best.pt s1=runs/b/best.pt shipped=models/fastfusion.pt

The base (structures wider than the 5x5 box) is ``share x thermal + (1 - share) x visible``
per pixel; ``share`` is the learned offset map plus the brightness prior through a sigmoid.
Printed per set: the mean share over every pixel of every pair (``--every N``: every Nth
pair), and the mean day probability of the model's head. fp32, full-size images cropped to
a multiple of the guidance scale.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import _set_of

from fusion_ros.models import build_model
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.training.sources import load_sources


def share_table(pairs: list, models: dict[str, str]) -> str:
    """A Markdown table: per set and model, the mean thermal share of the base and P(day)."""
    rows: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for label, weights in models.items():
        model = build_model('fastfusion', weights)
        model.return_base_share, model.return_enhanced = True, False
        to_ycbcr = COLOUR_TRANSFORMS[model.colour][0]  # the luminance the model fuses
        with torch.no_grad():
            for pair in pairs:
                ir, rgb = pair.load()
                scale = model.scale
                h, w = ir.shape[0] // scale * scale, ir.shape[1] // scale * scale
                thermal = torch.from_numpy(np.ascontiguousarray(ir[:h, :w]))[None, None].float()
                image = torch.from_numpy(np.ascontiguousarray(rgb[:h, :w].transpose(2, 0, 1)))
                visible_y = to_ycbcr(image[None].float())[:, :1]
                out = model(thermal, visible_y)
                rows[(_set_of(pair), label)].append(
                    (out.base_share.mean().item(), out.day_probability.mean().item()))
    lines = ['| set | model | thermal share of the base | P(day) |', '|---|---|---:|---:|']
    for (subset, label), values in sorted(rows.items()):
        share, day = np.mean(values, axis=0)
        lines.append(f'| {subset} ({len(values)}) | {label} | {share:.3f} | {day:.3f} |')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', action='append', required=True, metavar='SPEC')
    parser.add_argument('--models', nargs='+', required=True, metavar='LABEL=PATH',
                        help="FastFusion checkpoints (a run's best.pt or a shipped file)")
    parser.add_argument('--every', type=int, default=1, help='every Nth pair of each set')
    parser.add_argument('--out', type=Path, default=None)
    args = parser.parse_args()
    if args.every < 1:
        parser.error('--every must be >= 1')
    models = dict(text.split('=', 1) if '=' in text else (text, text) for text in args.models)
    pairs = [p for spec in args.data for p in load_sources([spec])[::args.every]]
    table = share_table(pairs, models)
    print(table)
    if args.out:
        args.out.write_text(table + '\n')


if __name__ == '__main__':
    main()

# SPDX-License-Identifier: Apache-2.0
"""Mean luminance and noise of a model's enhanced output against its input, on the held-out
LLVIP night pairs of a training run or on every LLVIP pair of a folder (the issue-16
target: brighter, no noisier). DFVO runs its full variant (its enhancement head); models
without a head, and ``--model dfvo --weight-free``, measure the engine's weight-free lift.

    python benchmarks/enhance_noise.py runs/dfvo_c --weights runs/dfvo_c/best.pt
    python benchmarks/enhance_noise.py --data ../shared/data/pairs/llvip --model average

Noise: the median absolute Laplacian of the 8-bit luminance (benchmarks/heldout.py reports
the same numbers with the fusion metrics; this is the quick check of the enhancement alone).
Full 1280x1024 frames take 300-400 s each on one thread (the attention is quadratic);
``--crop 256`` measures the centre crop of each frame instead, in seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from heldout import _noise, _set_of, heldout_pairs  # benchmarks/ is the script's folder

from fusion_ros.engine import FusionEngine
from fusion_ros.training.sources import load_sources


def _centre(image: np.ndarray, size: int) -> np.ndarray:
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[max(top, 0):top + size, max(left, 0):left + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run', type=Path, nargs='?',
                        help='a training run (its held-out LLVIP pairs)')
    parser.add_argument('--data', nargs='+', default=None,
                        help='instead of a run: every LLVIP pair of these sources')
    parser.add_argument('--model', default='dfvo')
    parser.add_argument('--weights', default=None, help="default: the model's shipped file")
    parser.add_argument('--weight-free', action='store_true',
                        help="dfvo: its inference variant, so the engine's weight-free lift")
    parser.add_argument('--crop', type=int, default=0,
                        help='measure the centre CROP x CROP of each frame (a multiple of 4)')
    args = parser.parse_args()
    if (args.run is None) == (args.data is None):
        parser.error('give a RUN or --data')
    full = args.model == 'dfvo' and not args.weight_free
    engine = FusionEngine(args.model, enhanced=True, weights=args.weights,
                          model_options={'variant': 'full'} if full else None)
    print(engine.describe(), flush=True)
    pairs = heldout_pairs(args.run) if args.run else load_sources(args.data)
    rows = []
    for pair in (p for p in pairs if _set_of(p) == 'llvip'):
        start = time.perf_counter()
        ir_f, rgb_f = pair.load()
        if args.crop:
            ir_f, rgb_f = _centre(ir_f, args.crop), _centre(rgb_f, args.crop)
        rgb = np.rint(rgb_f * 255).astype(np.uint8)
        res = engine.fuse(np.rint(ir_f * 255).astype(np.uint8), rgb)
        vi = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        en = cv2.cvtColor(res.enhanced, cv2.COLOR_RGB2GRAY)
        rows.append((vi.mean(), en.mean(), _noise(vi), _noise(en), vi.std(), en.std()))
        print(f'{pair.name}: luminance {rows[-1][0]:.1f} -> {rows[-1][1]:.1f}, noise '
              f'{rows[-1][2]:.2f} -> {rows[-1][3]:.2f}, contrast (std) {rows[-1][4]:.1f} -> '
              f'{rows[-1][5]:.1f} ({time.perf_counter() - start:.0f} s)', flush=True)
    a = np.array(rows)
    print(f'mean over {len(a)}: luminance {a[:, 0].mean():.1f} -> {a[:, 1].mean():.1f}, '
          f'noise (median |Laplacian|) {a[:, 2].mean():.2f} -> {a[:, 3].mean():.2f}, '
          f'contrast (std) {a[:, 4].mean():.1f} -> {a[:, 5].mean():.1f} (a flat grey output has '
          'little noise and no contrast)')


if __name__ == '__main__':
    main()

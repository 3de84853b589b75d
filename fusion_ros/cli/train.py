# SPDX-License-Identifier: Apache-2.0
"""Train a model on aligned IR/visible pair folders (each with ir/ and vi/).

Writes OUT/last.pt (resumable with --resume), OUT/weights.pt (load it with --weights or the
node's weights parameter), OUT/history.csv, OUT/loss.png and OUT/summary.json.
The TNO benchmark is refused as training data (it is the evaluation set).

Example (the shipped FastFusion weights, see models/fastfusion.md):
  fusion-ros train --model fastfusion --data ../shared/data/pairs/roadscene \\
      ../shared/data/pairs/llvip ../shared/data/pairs/msrs --out runs/fastfusion
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fusion_ros.cli._args import model_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', default='fastfusion', help='fastfusion or piafusion')
    parser.add_argument('--data', nargs='+', type=Path, required=True, metavar='DIR',
                        help='pair folders (ir/ + vi/, same file names)')
    parser.add_argument('--out', type=Path, required=True, help='run folder')
    parser.add_argument('--epochs', type=int, default=30, help='(default: %(default)s)')
    parser.add_argument('--batch-size', type=int, default=16, help='(default: %(default)s)')
    parser.add_argument('--patch', type=int, default=128, help='crop size (default: 128)')
    parser.add_argument('--patches-per-image', type=int, default=8,
                        help='crops per image per epoch (default: %(default)s)')
    parser.add_argument('--lr', type=float, default=1e-3, help='Adam rate (default: 1e-3)')
    parser.add_argument('--seed', type=int, default=0, help='(default: 0)')
    parser.add_argument('--loss-variant', default='paper', choices=('paper', 'tf'),
                        help="PIAFusion loss: the paper's or the TensorFlow code's")
    parser.add_argument('--illumination-weights', type=Path, default=None, metavar='PATH',
                        help='PIAFusion classifier for the day/night loss weights (default: '
                             'file-name D/N suffix, else the luminance estimate)')
    parser.add_argument('--option', dest='options', action='append', type=model_option,
                        default=[], metavar='KEY=VALUE', help='model option, repeatable')
    parser.add_argument('--resume', action='store_true', help='continue OUT/last.pt')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: all cores)')


def run(args: argparse.Namespace) -> int:
    import torch

    from fusion_ros.training.trainer import TrainConfig, train

    if args.threads:
        torch.set_num_threads(args.threads)
    shared = Path(os.environ.get('FUSION_ROS_SHARED', '../shared'))
    config = TrainConfig(
        model=args.model, data=[str(d) for d in args.data], out=str(args.out),
        epochs=args.epochs, batch_size=args.batch_size, patch=args.patch,
        patches_per_image=args.patches_per_image, lr=args.lr, seed=args.seed,
        loss_variant=args.loss_variant,
        illumination_weights=str(args.illumination_weights) if args.illumination_weights
        else None,
        exclude=[str(shared / 'data' / 'benchmarks' / 'tno42')],
        model_options=dict(args.options))
    summary = train(config, resume=args.resume)
    print(f"trained {summary['epochs']} epochs in {summary['seconds']:.0f} s -> "
          f"{summary['weights']}")
    return 0

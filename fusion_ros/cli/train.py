# SPDX-License-Identifier: Apache-2.0
"""Train a fusion model (or PIAFusion's illumination classifier) on your data.

MODEL: fastfusion, piafusion (both stages unless --classifier is given),
piafusion-classifier, didfuse or dfvo. Defaults come from config/train/MODEL.yaml (the
papers' settings); --config FILE overrides some of them, the flags below override both.

--data SPEC (repeatable) is [LAYOUT:]PATH[,KEY=VALUE...] with LAYOUT one of llvip, msrs,
kaist, tno, roadscene, pairs (ir/ + vi/ folders) or bag (a rosbag2 recording, paired by the
node's synchronizer); left out, it is guessed. Keys: split=train|test|all, sequence=GLOB,
every=N, limit=N; for bags thermal=TOPIC, rgb=TOPIC, slop=SECONDS.

RUN_DIR receives log.csv (step, epoch, loss, each term, lr), val.csv (validation loss and
EN/SD/SF/Qabf on held-out pairs, every epoch), TensorBoard events (tensorboard --logdir
RUN_DIR), loss.png, last.pt (resume point, written atomically), best.pt (lowest validation
loss: load it with --weights RUN_DIR/best.pt), final.pt and summary.json. The TNO
evaluation set is refused as training data.

Examples:
  fusion-ros train didfuse --data msrs:/data/MSRS --data llvip:/data/LLVIP,every=4 \\
      --out runs/didfuse
  fusion-ros train piafusion --data msrs:/data/MSRS --epochs 30 --out runs/piafusion
  fusion-ros fuse --model didfuse --weights runs/didfuse/best.pt IR.png VIS.png out.png
  torchrun --nproc_per_node 2 -m fusion_ros.train dfvo --data llvip:/data/LLVIP --out runs/dfvo
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fusion_ros.cli._args import add_threads_argument, model_option
from fusion_ros.defaults import PRECISIONS

TRAINABLE = ('fastfusion', 'piafusion', 'piafusion-classifier', 'didfuse', 'dfvo')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('model', choices=TRAINABLE, metavar='MODEL',
                        help=f'what to train: {", ".join(TRAINABLE)}')
    parser.add_argument('--data', action='append', required=True, metavar='SPEC',
                        help='training data (repeatable), see above')
    parser.add_argument('--val', action='append', default=None, metavar='SPEC',
                        help='validation data (default: hold out --val-fraction of --data)')
    parser.add_argument('--val-fraction', type=float, default=None,
                        help='share of the pairs held out for validation (default 0.1)')
    parser.add_argument('--config', type=Path, default=None, metavar='YAML',
                        help='settings overriding config/train/MODEL.yaml')
    length = parser.add_mutually_exclusive_group()
    length.add_argument('--epochs', type=int, default=None, help='epochs (default: YAML)')
    length.add_argument('--steps', type=int, default=None,
                        help='optimiser steps instead of epochs')
    parser.add_argument('--batch', type=int, default=None, help='batch per process')
    parser.add_argument('--patch', type=int, default=None, help='crop size in pixels')
    parser.add_argument('--sampling', choices=('random', 'stride'), default=None,
                        help='random crops, or every crop on a grid with --stride')
    parser.add_argument('--stride', type=int, default=None, help='grid step of --sampling stride')
    parser.add_argument('--lr', type=float, default=None, help='Adam learning rate')
    parser.add_argument('--device', default=None,
                        help='auto (default), cpu, cuda or cuda:N; under torchrun each rank '
                             'takes cuda:LOCAL_RANK')
    parser.add_argument('--precision', default=None, choices=PRECISIONS,
                        help='auto (default): bf16 autocast + channels_last on CPUs with '
                             'AMX and on recent GPUs, fp16 with a gradient scaler on '
                             'older GPUs, else fp32; fp32 master weights always')
    parser.add_argument('--out', type=Path, required=True, metavar='RUN_DIR', help='run folder')
    parser.add_argument('--resume', action='store_true',
                        help='continue RUN_DIR/last.pt exactly where it stopped')
    parser.add_argument('--classifier', type=Path, default=None, metavar='PATH',
                        help='a trained illumination classifier: piafusion uses it as its '
                             'frozen stage 1 (skipping it); the other models take day/night '
                             'labels of unlabelled data from it (default: luminance estimate)')
    parser.add_argument('--perceptual-weights', type=Path, default=None, metavar='PATH',
                        help='dfvo: torchvision ResNet-18 ImageNet state dict for the '
                             'perceptual term (off without it)')
    parser.add_argument('--init', type=Path, default=None, metavar='PATH',
                        help='start from these weights (fine-tuning, or a second stage): a '
                             "file from --weights or a run folder's last.pt")
    parser.add_argument('--option', dest='options', action='append', type=model_option,
                        default=[], metavar='KEY=VALUE', help='model option, repeatable')
    parser.add_argument('--seed', type=int, default=None, help='(default 0)')
    parser.add_argument('--workers', type=int, default=None,
                        help='data loader processes (default: none on the CPU, where they '
                             'take cores from the step; up to 4 with a GPU)')
    parser.add_argument('--save-every', type=int, default=None, metavar='STEPS',
                        help='also checkpoint every STEPS steps (default: each epoch)')
    add_threads_argument(parser)
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from fusion_ros.memory import keep_freed_memory
    from fusion_ros.threads import apply_threads, resolve_threads
    from fusion_ros.training.config import load_train_config
    from fusion_ros.training.distributed import shutdown_distributed
    from fusion_ros.training.stages import train_with_stages

    threads = resolve_threads(args.threads)
    apply_threads(threads)
    print(f'CPU threads: {threads.describe()}', flush=True)
    if keep_freed_memory():  # (fusion-ros main set it already; this says whether it took)
        print('freed memory kept for reuse (FUSION_ROS_KEEP_FREED_MEMORY=0: glibc default)',
              flush=True)
    shared = Path(os.environ.get('FUSION_ROS_SHARED', '../shared'))
    stage_overrides = {'epochs': args.epochs, 'steps': args.steps, 'batch': args.batch,
                       'patch': args.patch, 'lr': args.lr, 'sampling': args.sampling,
                       'stride': args.stride, 'save_every': args.save_every}
    settings = {}
    if args.classifier:  # PIAFusion's frozen stage 1; for the others, day/night labels
        settings['classifier' if args.model == 'piafusion' else 'day_classifier'] = str(
            args.classifier)
    if args.perceptual_weights:
        settings['perceptual_weights'] = str(args.perceptual_weights)
    config = load_train_config(
        args.model, args.config, **stage_overrides, data=args.data, val_data=args.val,
        val_fraction=args.val_fraction, device=args.device, precision=args.precision,
        seed=args.seed, init=str(args.init) if args.init else None,
        workers=args.workers, out=str(args.out), model_options=dict(args.options) or None,
        settings=settings or None,
        exclude=[str(shared / 'data' / 'benchmarks' / 'tno42')])
    try:
        summary = train_with_stages(config, resume=args.resume, progress=not args.no_progress,
                                    stage_overrides=stage_overrides)
    finally:
        shutdown_distributed()
    if summary:
        print(f"trained {config.model}: {summary['steps']} steps in {summary['seconds']:.0f} s"
              f" -> {summary['best']} (load it with --weights)")
    return 0

# SPDX-License-Identifier: Apache-2.0
"""Fuse thermal + visible image files with any registered model.

--ir and --vi are two files, or two folders whose images are paired by file name; --out is
then a file or a folder. Pairs that fail (unreadable, sizes differ) are listed by name at
the end and the exit status is 1; the others are still written.

Examples:
  fusion-ros fuse --ir ir.png --vi vi.png --out fused.png
  fusion-ros fuse --model didfuse --weights ../shared/data/reference/didfuse/weights \\
      --ir tno/ir --vi tno/vi --out fused/
  fusion-ros fuse --model dfvo --option variant=full --random-init --ir a.png --vi b.png \\
      --out f.png --enhanced-out enhanced.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fusion_ros.cli._args import add_model_arguments, engine_from_args
from fusion_ros.defaults import DEFAULT_MODEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--ir', type=Path, required=True, help='thermal image or folder')
    parser.add_argument('--vi', type=Path, required=True, help='visible image or folder')
    parser.add_argument('--out', type=Path, required=True, help='fused image or folder')
    parser.add_argument('--enhanced-out', type=Path, default=None, metavar='PATH',
                        help="also write the enhanced visible image(s): the model's "
                             'enhancement head, else a weight-free gamma lift')
    add_model_arguments(parser, DEFAULT_MODEL)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fusion_ros.errors import ConfigError, FusionError
    from fusion_ros.io.image_files import pair_folders, read_image, read_thermal, write_image

    if args.ir.is_dir() != args.vi.is_dir():
        raise ConfigError('--ir and --vi must both be files or both be folders')
    if args.ir.is_dir():
        pairs, unmatched = pair_folders(args.ir, args.vi)
        problems = [f'{name}: {reason}' for name, reason in unmatched]
        if not pairs:
            raise ConfigError(f'no pairs with the same file name in {args.ir} and {args.vi}')
        jobs = [(ir, vi, args.out / n, args.enhanced_out / n if args.enhanced_out else None)
                for n, (ir, vi) in pairs.items()]
    else:
        for path in (args.ir, args.vi):
            if not path.is_file():
                raise ConfigError(f'{str(path)!r} does not exist')
        problems = []
        jobs = [(args.ir, args.vi, args.out, args.enhanced_out)]

    engine = engine_from_args(args, enhanced=args.enhanced_out is not None)
    total_ms = 0.0
    done = 0
    for ir_path, vi_path, out_path, enh_path in tqdm(jobs, unit='pair', disable=len(jobs) < 2):
        try:
            result = engine.fuse(read_thermal(ir_path), read_image(vi_path))
            write_image(out_path, result.fused)
            if enh_path is not None and result.enhanced is not None:
                write_image(enh_path, result.enhanced)
        except FusionError as err:
            problems.append(f'{ir_path.name}: {err}')
            continue
        total_ms += result.inference_ms
        done += 1
    print(f'fused {done}/{len(jobs)} pair(s) with {engine.describe()}: '
          f'{total_ms / max(done, 1):.1f} ms/pair -> {args.out}')
    for line in problems:
        print(f'  failed: {line}')
    return 1 if problems else 0

# SPDX-License-Identifier: Apache-2.0
"""Fuse thermal + visible image files with any registered model.

--ir and --vi are two files, or two folders whose images are paired by file stem
(ir/x.jpg with vi/x.png); --out is then a file (or a folder to put it in) or a folder,
where each result is named after its pair in --format (PNG by default: lossless, so
fused images that feed "fusion-ros eval" are not recompressed). Outputs are checked
before any work (known extension, writable, not an input folder), never replace an
input, are written atomically, and refuse to replace existing files unless --overwrite.
Pairs that fail (unreadable, sizes differ) are listed by name at the end and the exit
status is 1; the others are still written.

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

from fusion_ros.cli._args import add_model_arguments, check_output_folder, engine_from_args
from fusion_ros.defaults import DEFAULT_MODEL
from fusion_ros.errors import ConfigError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--ir', type=Path, required=True, help='thermal image or folder')
    parser.add_argument('--vi', type=Path, required=True, help='visible image or folder')
    # str, not Path: Path drops the trailing / that says "a folder"
    parser.add_argument('--out', required=True, help='fused image or folder')
    parser.add_argument('--enhanced-out', default=None, metavar='PATH',
                        help="also write the enhanced visible image(s): the model's "
                             'enhancement head, else a weight-free gamma lift')
    parser.add_argument('--format', default='png', choices=('png', 'jpg', 'bmp', 'tif'),
                        help='image format of outputs named by fuse (folders; --out DIR/) '
                             '(default: png)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    add_model_arguments(parser, DEFAULT_MODEL)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fusion_ros.errors import FusionError
    from fusion_ros.io.image_files import pair_folders, read_image, read_thermal, write_image

    if args.ir.is_dir() != args.vi.is_dir():
        raise UsageError('--ir and --vi must both be files or both be folders')
    single = None if args.ir.is_dir() else _file_outputs(args)  # reads the raw --out text
    args.out = Path(args.out)
    args.enhanced_out = Path(args.enhanced_out) if args.enhanced_out else None
    if single is None:
        pairs, unmatched = pair_folders(args.ir, args.vi)
        problems = [f'{name}: {reason}' for name, reason in unmatched]
        if not pairs:
            raise ConfigError(f'no pairs with the same file stem in {args.ir} and {args.vi}')
        outs = _folder_outputs([Path(n).stem for n in pairs], args)
        jobs = [(ir, vi, *out) for (ir, vi), out in zip(pairs.values(), outs)]
    else:
        for path in (args.ir, args.vi):
            if not path.is_file():
                raise ConfigError(f'{str(path)!r} does not exist')
        problems = []
        jobs = [(args.ir, args.vi, *single)]
    _check_outputs(jobs, args)

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


def _named(target: Path, stem: str, fmt: str) -> Path:
    return target / f'{stem}.{fmt}'


def _folder_outputs(stems: list[str], args: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    return [(_named(args.out, s, args.format),
             _named(args.enhanced_out, s, args.format) if args.enhanced_out else None)
            for s in stems]


def _file_outputs(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """One pair: a path with an image extension, or a folder (existing, or written with a
    trailing /) to write ``<thermal stem>.<format>`` into."""
    from fusion_ros.io.image_files import IMAGE_SUFFIXES

    def one(text: str, option: str) -> Path:
        target = Path(text)
        if target.is_dir() or text.endswith(('/', '\\')):
            return _named(target, args.ir.stem, args.format)
        if target.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f'{option} {str(target)!r} has no image extension '
                              f'({", ".join(IMAGE_SUFFIXES)}); end it in / for a folder')
        return target

    return (one(args.out, '--out'),
            one(args.enhanced_out, '--enhanced-out') if args.enhanced_out else None)


def _check_outputs(jobs: list, args: argparse.Namespace) -> None:
    """Refuse, before any work: an output that is an input or lies in an input folder, an
    existing output without --overwrite, a folder that cannot be written."""
    inputs = {p.resolve() for job in jobs for p in job[:2]}
    input_dirs = {args.ir.resolve(), args.vi.resolve()} if args.ir.is_dir() else set()
    for job in jobs:
        for out in (o for o in job[2:] if o is not None):
            resolved = out.resolve()
            if resolved in inputs or resolved.parent in input_dirs:
                raise ConfigError(f'{str(out)!r} would be written into an input; choose '
                                  'another --out')
            if out.exists() and not args.overwrite:
                raise ConfigError(f'{str(out)!r} exists; pass --overwrite to replace it')
    for folder in {o.parent for job in jobs for o in job[2:] if o is not None}:
        check_output_folder(folder)

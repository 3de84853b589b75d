# SPDX-License-Identifier: Apache-2.0
"""``fusion-ros bag fuse-many``: many recordings fused as ``bag fuse`` would, resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fusion_ros.cli._args import add_model_arguments, engine_from_args
from fusion_ros.cli._bag_sync import add_sync_options, stream_settings
from fusion_ros.defaults import DEFAULT_MODEL
from fusion_ros.errors import FusionError

__all__ = ['FUSE_MANY_DOC', 'add_fuse_many_parser', 'run_fuse_many']

FUSE_MANY_DOC = """Fuse many recordings: one output bag per input, as `bag fuse` would write it.

Outputs keep the inputs' layout below their common folder; OUT/manifest.jsonl gets a line
per bag (input, output, pairs, fused, failed frames, model, weights hash, backend,
precision, wall time, status). Re-running the same command skips the bags already done
(their outputs still hold what the manifest recorded) and fuses the rest; a bag that
cannot be read fails alone, with its reason in the manifest. Outputs appear only when
complete. Exit 1 when a bag failed.
"""


def add_fuse_many_parser(sub: Any, fmt: Any) -> None:
    p = sub.add_parser('fuse-many', formatter_class=fmt, help='fuse many bags, resumable',
                       description=FUSE_MANY_DOC)
    p.add_argument('sources', nargs='+', metavar='SOURCE',
                   help='a bag folder, a folder of bags, a glob, or a text file listing them')
    p.add_argument('--out', type=Path, required=True, metavar='DIR',
                   help='output folder: one bag per input (same layout) + manifest.jsonl')
    add_model_arguments(p, DEFAULT_MODEL)
    p.add_argument('--batch', type=int, default=1, help='pairs per forward pass (default: 1)')
    p.add_argument('--no-enhanced', action='store_true', help='skip enhanced/image_raw')
    p.add_argument('--outputs-only', action='store_true',
                   help='do not copy the input topics into the outputs')
    add_sync_options(p)
    p.add_argument('--params-file', type=Path, default=None, metavar='YAML',
                   help="the fusion node's parameters file, as for bag fuse")
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                   help='rosbag2 storage plugin of the outputs (default: mcap)')
    p.add_argument('--humble', action='store_true', help='metadata version 8 (ROS 2 Humble)')
    p.add_argument('--json', action='store_true', help="print this run's manifest lines")


def run_fuse_many(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fusion_ros.bagtools.many import MANIFEST, find_bags, fuse_many, plan_jobs
    from fusion_ros.errors import UsageError

    stream = stream_settings(args)
    try:
        jobs = plan_jobs(find_bags(args.sources), args.out)
    except FusionError as err:
        raise UsageError(str(err)) from err
    engine = engine_from_args(args, enhanced=not args.no_enhanced)
    with tqdm(total=len(jobs), unit='bag', desc='fuse-many') as bar:
        def done(entry: dict) -> None:
            bar.set_postfix_str(f"{entry['rel']}: {entry['status']}")
            bar.update()

        lines = fuse_many(jobs, engine, args.out, on_bag=done, stream=stream,
                          batch=args.batch, copy_inputs=not args.outputs_only,
                          thermal_topic=args.thermal_topic, rgb_topic=args.rgb_topic,
                          storage=args.storage, version=8 if args.humble else 9)
    if args.json:
        for entry in lines:
            print(json.dumps(entry))
    counts = {k: sum(e['status'] == k for e in lines) for k in ('done', 'skipped', 'failed')}
    fused = sum(e.get('fused', 0) for e in lines if e['status'] == 'done')
    print(f"{len(lines)} bags with {engine.describe()}: {counts['done']} fused ({fused} pairs), "
          f"{counts['skipped']} already done, {counts['failed']} failed -> "
          f'{args.out / MANIFEST}')
    for entry in lines:
        if entry['status'] == 'failed':
            print(f"  failed: {entry['rel']}: {entry['reason']}", file=sys.stderr)
    return 1 if counts['failed'] else 0

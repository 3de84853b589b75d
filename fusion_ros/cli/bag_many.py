# SPDX-License-Identifier: Apache-2.0
"""``fusion-ros bag fuse-many``: many recordings fused as ``bag fuse`` would, resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fusion_ros.cli._args import add_model_arguments, engine_from_args, engine_kwargs
from fusion_ros.cli._bag_sync import add_sync_options, stream_settings
from fusion_ros.defaults import DEFAULT_MODEL
from fusion_ros.errors import FusionError

__all__ = ['FUSE_MANY_DOC', 'add_fuse_many_parser', 'run_fuse_many']

FUSE_MANY_DOC = """Fuse many recordings: one output bag per input, as `bag fuse` would write it.

Outputs keep the inputs' layout below their common folder; OUT/manifest.jsonl gets a line
per bag (input, output, pairs, fused, failed frames, model, weights hash, backend,
precision, wall time, worker, attempts, status). Re-running the same command skips the
bags already done (their outputs still hold what the manifest recorded) and fuses the
rest; a bag that cannot be read fails alone, with its reason in the manifest. Outputs
appear only when complete. Exit 1 when a bag failed.

Engines: local (default) runs a worker per GPU or core (or --workers) on this machine through
a local Ray instance (one process for a single bag, or without Ray); ray runs on an existing
cluster (--address, or RAY_ADDRESS); loop runs the bags one after another here. Each
worker builds the model once and keeps it for every bag it is given.

examples:
  fusion-ros bag fuse-many ~/fleet/ --out ~/fleet_fused --model fastfusion
  fusion-ros bag fuse-many bags.txt --out /nfs/fused --model piafusion \\
      --engine ray --address auto --gpus-per-worker 0.5
"""

ENGINES = ('local', 'ray', 'loop')
# messages a thread reads ahead of fusion in each worker (a few pairs of 640x512 frames)
READ_AHEAD = 32


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
    p.add_argument('--detect', choices=('hog', 'onnx'), default=None,
                   help='also run a detector on the fused frames (detections/image and '
                        'detections/json), as bag fuse --detect')
    p.add_argument('--detector-model', default='', metavar='ONNX',
                   help='YOLOv5/YOLOv8 ONNX export for --detect onnx')
    p.add_argument('--params-file', type=Path, default=None, metavar='YAML',
                   help="the fusion node's parameters file, as for bag fuse")
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                   help='rosbag2 storage plugin of the outputs (default: mcap)')
    p.add_argument('--humble', action='store_true', help='metadata version 8 (ROS 2 Humble)')
    g = p.add_argument_group('engine')
    g.add_argument('--engine', choices=ENGINES, default='local',
                   help='local: workers on this machine (Ray, else one process); ray: an '
                        'existing cluster; loop: one process (default: %(default)s)')
    g.add_argument('--address', default=None, metavar='ADDR',
                   help='the Ray cluster for --engine ray (default: RAY_ADDRESS, else auto)')
    g.add_argument('--workers', type=int, default=None, metavar='N',
                   help='bags fused at once (default: local: usable cores / CPUs per '
                        "worker; ray: what the cluster's CPUs or GPUs allow)")
    g.add_argument('--cpus-per-worker', type=float, default=None, metavar='N',
                   help='CPUs each worker asks of Ray, and its torch threads (default: 1; 2 '
                        'for the heavy networks on CPUs: PIAFusion, DIDFuse, DFVO)')
    g.add_argument('--gpus-per-worker', type=float, default=0.0, metavar='N',
                   help='GPUs each worker asks of Ray; 0.5 puts two workers on a GPU so one '
                        'reads its bag while the other fuses (default: 0)')
    g.add_argument('--retries', type=int, default=3, metavar='N',
                   help='runs of a bag whose worker died, before it is failed (default: 3)')
    p.add_argument('--json', action='store_true', help="print this run's manifest lines")


def run_fuse_many(args: argparse.Namespace) -> int:
    from fusion_ros.bagtools.many import find_bags, plan_jobs
    from fusion_ros.errors import UsageError

    stream = stream_settings(args)
    try:
        out = args.out.resolve()
        # outputs written under a source folder are not inputs of the next run
        jobs = plan_jobs([b for b in find_bags(args.sources) if not b.is_relative_to(out)],
                         out)
    except FusionError as err:
        raise UsageError(str(err)) from err
    options = dict(stream=stream, batch=args.batch, copy_inputs=not args.outputs_only,
                   thermal_topic=args.thermal_topic, rgb_topic=args.rgb_topic,
                   storage=args.storage, version=8 if args.humble else 9,
                   read_ahead=READ_AHEAD,
                   detector=(args.detect, str(Path(args.detector_model).resolve())
                             if args.detector_model else '') if args.detect else None)
    if options['detector']:  # a detector that cannot be built: one line now, not per bag
        from fusion_ros.bagtools.many import detection_hook

        detection_hook(*options['detector'])
    progress = _Progress(len(jobs))
    try:
        lines, engine_text = _fuse(args, jobs, options, progress.bag)
    finally:
        progress.close()
    return _summarise(args, lines, engine_text)


def _fuse(args: argparse.Namespace, jobs: list, options: dict,
          on_bag: Any) -> tuple[list[dict], str]:
    """Run the jobs on the engine asked for; returns the lines and what ran them."""
    import os

    from fusion_ros.bagtools.fleet import RAY_MISSING, FleetSettings, ray_installed
    from fusion_ros.errors import UsageError

    if args.engine == 'ray' and not ray_installed():
        raise UsageError(RAY_MISSING)
    workers, cpus, gpus = _layout(args)
    settings = FleetSettings(
        address=(args.address or os.environ.get('RAY_ADDRESS') or 'auto')
        if args.engine == 'ray' else None,
        workers=workers, cpus_per_worker=cpus, gpus_per_worker=gpus,
        retries=args.retries)
    # one worker or one bag: Ray's start-up (seconds) would buy nothing
    if args.engine == 'loop' or (args.engine == 'local' and (
            workers == 1 or len(jobs) == 1 or not ray_installed())):
        if args.engine == 'local' and not ray_installed() and workers > 1:
            print(f'note: {RAY_MISSING}; fusing in this process', file=sys.stderr)
        from fusion_ros.bagtools.many import fuse_many

        engine = engine_from_args(args, enhanced=not args.no_enhanced)
        return (fuse_many(jobs, engine, args.out, on_bag=on_bag, **options),
                engine.describe())
    from fusion_ros.bagtools.fleet import fuse_many_ray

    spec = engine_kwargs(args, enhanced=not args.no_enhanced)
    if spec['weights'] is not None:  # workers may start elsewhere than this folder
        spec['weights'] = str(Path(spec['weights']).resolve())
    if spec['threads'] is None:  # a worker's torch threads: the CPUs it asked for
        spec['threads'] = max(1, int(cpus))
    lines = fuse_many_ray(jobs, spec, args.out.resolve(), settings, on_bag=on_bag, **options)
    where = 'a Ray cluster' if args.engine == 'ray' else f'local Ray, {workers} workers'
    return lines, f'{args.model} on {where} x {cpus:g} CPU'


def _layout(args: argparse.Namespace) -> tuple[int | None, float, float]:
    """Workers, CPUs and GPUs per worker. As asked; else, on this machine, a worker per GPU
    when the engine would run on one, or per usable core, or per two cores for the heavy
    networks: their kernels use two threads about as well as two processes would
    (PIAFusion in OpenVINO on a 2-core Xeon: 2.4 s a pair on two threads, 5.0 s on one;
    docs/BENCHMARKS.md) and every worker pays their compile. On a cluster, None workers:
    as many as its resources hold."""
    from fusion_ros.models._registry import heavy_model
    from fusion_ros.threads import usable_cpus

    gpus = args.gpus_per_worker
    local = args.engine != 'ray'
    if local and gpus == 0 and args.device in ('auto', 'cuda') and not args.workers:
        gpus = 1.0 if _cuda_devices() else 0.0  # one worker per GPU
    heavy = args.model is not None and heavy_model(args.model)
    cpus = args.cpus_per_worker or (2.0 if heavy and gpus == 0 else 1.0)
    if args.workers or not local:
        return args.workers, cpus, gpus
    if gpus > 0:
        return max(1, int(_cuda_devices() / gpus)), cpus, gpus
    return max(1, int(usable_cpus() // cpus)), cpus, gpus


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class _Progress:
    """One bar over all bags, with the pairs fused per second."""

    def __init__(self, total: int) -> None:
        import time

        from tqdm import tqdm

        self._bar = tqdm(total=total, unit='bag', desc='fuse-many')
        self._clock, self._start, self._fused = time.perf_counter, time.perf_counter(), 0

    def bag(self, entry: dict) -> None:
        if entry['status'] == 'done':
            self._fused += entry.get('fused', 0)
        rate = self._fused / max(self._clock() - self._start, 1e-9)
        self._bar.set_postfix_str(f"{rate:.1f} pairs/s, {entry['rel']}: {entry['status']}")
        self._bar.update()

    def close(self) -> None:
        self._bar.close()


def _summarise(args: argparse.Namespace, lines: list[dict], engine_text: str) -> int:
    """The manifest lines (--json) or a table per worker, a line of totals, the failures."""
    from fusion_ros.bagtools.many import MANIFEST

    if args.json:
        for entry in lines:
            print(json.dumps(entry))
    counts = {k: sum(e['status'] == k for e in lines) for k in ('done', 'skipped', 'failed')}
    done = [e for e in lines if e['status'] == 'done']
    if not args.json and done:
        workers: dict[str, list[dict]] = {}
        for entry in done:
            workers.setdefault(entry.get('worker', '?'), []).append(entry)
        print(f"{'worker':<28} {'bags':>5} {'pairs':>7} {'seconds':>8} {'pairs/s':>8}")
        for name, entries in sorted(workers.items()):
            fused = sum(e['fused'] for e in entries)
            wall = sum(e['wall_s'] for e in entries)
            print(f'{name:<28} {len(entries):>5} {fused:>7} {wall:>8.1f} '
                  f'{fused / max(wall, 1e-9):>8.1f}')
    retried = sum(e.get('attempts', 1) > 1 for e in lines if e['status'] != 'skipped')
    fused = sum(e.get('fused', 0) for e in done)
    print(f"{len(lines)} bags with {engine_text}: {counts['done']} fused ({fused} pairs), "
          f"{counts['skipped']} already done, {counts['failed']} failed, {retried} retried "
          f'-> {args.out / MANIFEST}')
    for entry in lines:
        if entry['status'] == 'failed':
            print(f"  failed: {entry['rel']}: {entry['reason']}", file=sys.stderr)
    return 1 if counts['failed'] else 0

# SPDX-License-Identifier: Apache-2.0
"""Fuse many recordings: one output bag per input bag, a manifest line per bag, resumable.

Each output is written under a temporary name and renamed once complete, so a job killed
mid-bag leaves nothing that looks finished; a bag whose manifest line says ``done`` and
whose output still holds the messages it recorded is skipped on a re-run; a damaged or
unreadable input fails that bag alone (its line says why), never the job. The engine is
built once and reused for every bag. This module is the loop in one process and what
every worker runs (:func:`fuse_job`); :mod:`fusion_ros.bagtools.fleet` spreads the jobs
over Ray workers.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fusion_ros.bagtools.fuse import fuse_bag
from fusion_ros.engine.engine import FusionEngine
from fusion_ros.errors import BagError, ConfigError, FusionError
from fusion_ros.io.bag import bag_in_place, discard_bag, remove_bag

__all__ = ['MANIFEST', 'BagJob', 'Manifest', 'detection_hook', 'engine_facts', 'find_bags',
           'fuse_job', 'fuse_many', 'plan_jobs', 'read_manifest']

MANIFEST = 'manifest.jsonl'


@dataclass(frozen=True)
class BagJob:
    """One input bag and where its output goes (``rel``: the output's path under OUT)."""

    source: Path
    output: Path
    rel: str

    @property
    def marker(self) -> Path:
        """Beside the output: a line (``host:pid``) per attempt at this bag not yet ended."""
        return self.output.with_name(f'.{self.output.name}.attempts')

    def attempts(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.is_file() else 0

    def line(self, **fields: Any) -> dict[str, Any]:
        """A manifest line of this bag: which bag it is, then ``fields``."""
        return {'rel': self.rel, 'input': str(self.source), 'output': str(self.output),
                **fields}


def _is_bag(path: Path) -> bool:
    return (path / 'metadata.yaml').is_file()


def find_bags(sources: Iterable[str]) -> list[Path]:
    """Bag folders from ``sources``: a bag folder, a folder holding bags (searched
    recursively), a glob, or a text file listing any of these, one per line (``#``
    comments). In the order given, each bag once.

    Raises:
        ConfigError: a source that names nothing, or a folder without bags.
    """
    found: list[Path] = []
    for text in sources:
        path = Path(text)
        if path.is_file() and not _is_bag(path.parent):
            lines = [ln.strip() for ln in path.read_text().splitlines()]
            found += find_bags([ln for ln in lines if ln and not ln.startswith('#')])
            continue
        matches = [Path(p) for p in sorted(glob.glob(text))] if glob.has_magic(text) else [path]
        if not matches or not any(m.exists() for m in matches):
            raise ConfigError(f'{text}: no such bag, folder, glob match or list file')
        for match in matches:
            bags = [match] if _is_bag(match) else sorted(
                p.parent for p in match.rglob('metadata.yaml')
                if not p.parent.name.endswith('.partial'))
            if not bags:
                raise ConfigError(f'{match}: holds no rosbag2 folder (no metadata.yaml)')
            found += bags
    unique: dict[Path, None] = {}
    for bag in found:
        unique.setdefault(bag.resolve(), None)
    return list(unique)


def plan_jobs(bags: list[Path], out_dir: Path) -> list[BagJob]:
    """Outputs under ``out_dir`` keep the inputs' layout below their common folder, so two
    bags of one name in different folders do not collide."""
    if not bags:
        return []
    root = Path(os.path.commonpath([b.parent for b in bags]))
    jobs = []
    for bag in bags:
        rel = bag.relative_to(root).as_posix()
        jobs.append(BagJob(bag, Path(out_dir) / rel, rel))
    return jobs


def read_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The newest manifest line of each input (by its ``rel`` path); damaged lines (a job
    killed mid-write) are ignored."""
    path = Path(out_dir) / MANIFEST
    lines: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for text in path.read_text().splitlines():
            try:
                entry = json.loads(text)
                lines[entry['rel']] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return lines


class Manifest:
    """``OUT/manifest.jsonl`` while a job runs: what was finished before, and a line
    appended (and flushed) per bag. One job at a time per OUT: a second one is refused
    (an exclusive lock on the file), since two would fuse the same bags into one place.

    Raises (on entering):
        ConfigError: another job holds OUT.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)

    def __enter__(self) -> Manifest:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.out_dir / MANIFEST, 'a')
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            self._file.close()
            raise ConfigError(f'{self.out_dir}: another fuse-many job is writing here '
                              f'(its {MANIFEST} is locked); wait for it or pick another '
                              f'--out') from err
        self.before = read_manifest(self.out_dir)
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()  # releases the lock

    def finished(self, job: BagJob) -> dict[str, Any] | None:
        """The manifest line of a bag done before whose output still holds what it
        recorded, as a ``skipped`` line; None when the bag must be fused."""
        entry = self.before.get(job.rel)
        if not entry or entry.get('status') != 'done' or not _is_bag(job.output):
            return None
        try:
            complete = bag_message_count(job.output) == entry.get('messages_out')
        except BagError:
            return None
        return {**entry, 'status': 'skipped'} if complete else None

    def write(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry) + '\n')
        self._file.flush()


def engine_facts(engine: FusionEngine) -> dict[str, Any]:
    """What a manifest line says of the engine that fused the bag."""
    from fusion_ros.engine.runtimes import weights_hash

    return {'model': engine.model_name, 'weights_sha256': weights_hash(engine.model),
            'backend': engine.runtime, 'precision': engine.precision}


def worker_name() -> str:
    """``host:pid`` of this process, as manifest lines name the worker."""
    return f'{socket.gethostname()}:{os.getpid()}'


def fuse_many(jobs: list[BagJob], engine: FusionEngine, out_dir: Path, *,
              on_bag: Callable[[dict[str, Any]], None] | None = None,
              **fuse_options: Any) -> list[dict[str, Any]]:
    """Fuse every job with ``engine`` in this process, one after another
    (``fuse_options``: as :func:`fuse_bag`); append a manifest line per bag to
    ``out_dir/manifest.jsonl`` and return this run's lines (``status``: ``done``,
    ``skipped`` (finished before), ``failed`` with ``reason``)."""
    facts = engine_facts(engine)
    lines = []
    with Manifest(out_dir) as manifest:
        for job in jobs:
            entry = manifest.finished(job)
            if entry is None:
                entry = fuse_job(job, engine, fuse_options, facts=facts)
                manifest.write(entry)
            lines.append(entry)
            if on_bag is not None:
                on_bag(entry)
    return lines


def fuse_job(job: BagJob, engine: FusionEngine, options: dict[str, Any], *,
             facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fuse one bag into its output (complete or none) and return its manifest line.
    ``options``: as :func:`fuse_bag`'s, plus ``detector``: ``(backend, model path)`` of a
    detector whose outputs are written too (a plain value: it travels to Ray workers).

    A marker beside the output counts the attempts at this bag: one left by a worker that
    died (or a job stopped) mid-bag makes this attempt the second, and the line says so.
    """
    if options.get('detector'):  # (backend, model path): built once in this process
        options = {**options, 'detect': detection_hook(*options['detector'])}
    options = {k: v for k, v in options.items() if k != 'detector'}
    job.output.parent.mkdir(parents=True, exist_ok=True)
    with open(job.marker, 'a') as started:  # one line per attempt: who began it
        started.write(worker_name() + '\n')
    attempts = job.attempts()
    try:
        line = {**_fuse_one(job, engine, options),
                **(facts if facts is not None else engine_facts(engine)),
                'worker': worker_name(), 'attempts': attempts}
    except Exception:  # a bug ended this attempt (Ctrl-C or a killed process leave it)
        job.marker.unlink(missing_ok=True)
        raise
    job.marker.unlink(missing_ok=True)
    return line


@functools.cache
def detection_hook(backend: str, model_path: str) -> Callable[..., Any]:
    """The detector node's outputs for :func:`fuse_bag` (``detect``), one per process."""
    from fusion_ros.bagtools.fuse import detection_writer
    from fusion_ros.detect import build_detector

    return detection_writer(build_detector(backend, model_path=model_path))


def _fuse_one(job: BagJob, engine: FusionEngine, options: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    entry = job.line()
    report = None
    try:
        remove_bag(job.output)  # not finished by the manifest's account: written again
        with bag_in_place(job.output) as partial:  # a complete bag or none
            report = fuse_bag(job.source, partial, engine, **options)
            if report.input_error:
                discard_bag(partial)
    except FusionError as err:  # unreadable input, no image topics: this bag only
        return {**entry, 'status': 'failed', 'reason': str(err),
                'wall_s': round(time.perf_counter() - start, 3)}
    entry.update(pairs=report.pairs, fused=report.fused,
                 failed=[{'stamp_ns': s, 'reason': r} for s, r in report.failed],
                 wall_s=round(time.perf_counter() - start, 3))
    if report.input_error:
        return {**entry, 'status': 'failed', 'reason': f'damaged input: {report.input_error}'}
    return {**entry, 'status': 'done', 'messages_out': bag_message_count(job.output)}


def bag_message_count(path: Path) -> int:
    """Messages a bag holds, by its metadata."""
    from fusion_ros.bagtools.info import bag_info

    return sum(t.count for t in bag_info(path).topics.values())

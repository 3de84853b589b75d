# SPDX-License-Identifier: Apache-2.0
"""Many recordings on Ray: a task per bag, each worker process building its engine once.

The same code runs on a laptop (a local Ray instance this module starts and stops) and on
a cluster (``address``: ``ray start --head`` on one machine, ``ray start --address`` on the
others, or KubeRay). Workers must see the inputs and OUT at the same paths (one disk, NFS)
and have fusion_ros installed. The driver alone writes the manifest; a worker returns the
line of its bag (:func:`fusion_ros.bagtools.many.fuse_job`). A worker that dies mid-bag is
replaced and its bag run again (Ray's task retries; the line counts the attempts); a bag
that fails fails alone; Ctrl-C cancels what is running and the next run resumes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fusion_ros.bagtools.many import BagJob, Manifest, engine_facts, fuse_job
from fusion_ros.errors import ConfigError, FusionError, UsageError

__all__ = ['RAY_MISSING', 'FleetSettings', 'fuse_many_ray', 'ray_installed']

# Ray's own config variable (lower case: its name in Ray's config table)
WORKER_NICENESS = 'RAY_worker_niceness'
RAY_MISSING = ("Ray is not installed: pip install 'fusion_ros[ray]' (or the pinned ray "
               'of requirements.txt)')


@dataclass(frozen=True)
class FleetSettings:
    """How the bags are spread.

    address: an existing cluster (``auto``, ``ray://host:10001``, ``host:6379``); None
        starts a local instance for this job and stops it at the end.
    workers: bags fused at once (None: as many as the cluster's CPUs, or GPUs, allow).
    cpus_per_worker / gpus_per_worker: what each worker asks of Ray (a fraction of a GPU,
        e.g. 0.5, puts two workers on it so one reads its bag while the other fuses).
    retries: how often a bag whose worker died is run again.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    retries: int = 3

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError(f'--workers must be >= 1, got {self.workers}')
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0 or self.retries < 0:
            raise UsageError('--cpus-per-worker must be > 0, --gpus-per-worker and '
                             '--retries >= 0')


def ray_installed() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


# each worker process builds the engine once and keeps it for every bag it is given
_ENGINES: dict[str, tuple[Any, dict[str, Any]]] = {}


def _worker_engine(spec: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import json

    from fusion_ros.engine import FusionEngine

    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _ENGINES:
        engine = FusionEngine(**spec)
        _ENGINES[key] = (engine, engine_facts(engine))
    return _ENGINES[key]


def _fuse_task(job: BagJob, spec: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """One bag on a Ray worker (runs in the worker process)."""
    try:
        engine, facts = _worker_engine(spec)
    except FusionError as err:  # bad weights or options: every bag says so, none is lost
        return job.line(status='failed', reason=f'engine: {err}')
    return fuse_job(job, engine, options, facts=facts)


def _connect(settings: FleetSettings) -> bool:
    """Join the cluster, or start a local instance; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if settings.address:
        _probe(settings.address)
        try:
            ray.init(address=settings.address, logging_level=logging.WARNING,
                     log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ConfigError(f'cannot reach the Ray cluster at {settings.address!r}: '
                              f'{err}') from err
        return False
    os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')  # a local job reports nothing
    # Ray runs workers at nice 15; here they are the job: at 15 any other busy process
    # (a robot's stack, a training run) takes nearly all of the CPU from them
    os.environ.setdefault(WORKER_NICENESS, '0')
    slots = settings.workers or os.cpu_count() or 1
    # 'local': a new instance even when RAY_ADDRESS or `ray start` name another cluster
    ray.init(address='local', num_cpus=max(1, round(slots * settings.cpus_per_worker)),
             include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    return True


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once on a ``host:port`` nobody listens on (Ray itself retries for a minute
    or more); ``auto``, ``ray://`` and other forms are left to Ray."""
    import socket

    host, _, port = address.rpartition(':')
    if '://' in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ConfigError(f'cannot reach the Ray cluster at {address!r}: {err}') from err


def _slots(settings: FleetSettings) -> int:
    """Bags in flight at once: as asked, or what the cluster's resources hold."""
    import ray

    if settings.workers:
        return settings.workers
    resources = ray.cluster_resources()
    if settings.gpus_per_worker > 0:
        return max(1, int(resources.get('GPU', 0) / settings.gpus_per_worker))
    return max(1, int(resources.get('CPU', 1) / settings.cpus_per_worker))


def _lost(job: BagJob, err: Exception) -> dict[str, Any]:
    """The line of a bag whose task did not return one (its worker died too often, or a
    bug raised): the bag fails, the job goes on."""
    reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return job.line(status='failed', reason=f'{type(err).__name__}: {reason}',
                    attempts=job.attempts())


def fuse_many_ray(jobs: list[BagJob], engine_spec: dict[str, Any], out_dir: Path,
                  settings: FleetSettings | None = None, *,
                  on_bag: Callable[[dict[str, Any]], None] | None = None,
                  **fuse_options: Any) -> list[dict[str, Any]]:
    """Fuse ``jobs`` on Ray workers; ``engine_spec``: the keyword arguments of
    :class:`~fusion_ros.engine.FusionEngine` each worker builds once. Returns this run's
    manifest lines, as :func:`~fusion_ros.bagtools.many.fuse_many` does.

    Raises:
        UsageError: Ray is not installed. ConfigError: the cluster cannot be reached, or
        another job holds ``out_dir``.
    """
    if not ray_installed():
        raise UsageError(RAY_MISSING)
    import ray

    settings = settings or FleetSettings()
    started = _connect(settings)
    try:
        with Manifest(out_dir) as manifest:
            lines: list[dict[str, Any]] = []

            def record(entry: dict[str, Any], written: bool = True) -> None:
                if written:
                    manifest.write(entry)
                lines.append(entry)
                if on_bag is not None:
                    on_bag(entry)

            todo = []
            for job in jobs:
                skipped = manifest.finished(job)
                if skipped is not None:
                    record(skipped, written=False)
                else:
                    todo.append(job)
            task = ray.remote(num_cpus=settings.cpus_per_worker,
                              num_gpus=settings.gpus_per_worker,
                              max_retries=settings.retries)(_fuse_task)
            _run(todo, lambda job: task.remote(job, engine_spec, fuse_options),
                 _slots(settings), record, cancel=not started)
            return lines
    finally:
        if started:
            ray.shutdown()


def _run(todo: list[BagJob], submit: Callable[[BagJob], Any], slots: int,
         record: Callable[[dict[str, Any]], None], *, cancel: bool) -> None:
    """Keep ``slots`` bags in flight and record each as it ends; on Ctrl-C, ``cancel`` the
    running bags (on a cluster; a local instance's shutdown ends its workers anyway)."""
    import ray

    queue = list(reversed(todo))
    running: dict[Any, BagJob] = {}
    try:
        while queue or running:
            while queue and len(running) < slots:
                job = queue.pop()
                running[submit(job)] = job
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for ref in ready:
                job = running.pop(ref)
                try:
                    record(ray.get(ref))
                except ray.exceptions.RayError as err:
                    record(_lost(job, err))
    except BaseException:  # Ctrl-C: stop the workers' bags (their outputs stay partial)
        for ref in running if cancel else ():
            ray.cancel(ref, force=True)
        raise

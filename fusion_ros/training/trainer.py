# SPDX-License-Identifier: Apache-2.0
"""The training loop shared by every model: resumable, validated, DDP-ready.

A run folder holds ``config.yaml`` (the resolved settings), ``last.pt`` (model, optimiser,
step and RNG state; the learning rate is a function of the step, ``training.schedule``:
``--resume`` continues it exactly), ``best.pt`` (the weights
with the lowest validation loss, or the highest ``best_by`` score; the engine loads it by
``--weights``), ``final.pt`` (both the moving average of the weights when ``ema`` is on),
``log.csv``, ``val.csv``, TensorBoard events, ``loss.png`` and ``summary.json``.
Checkpoints are written to a temporary file and renamed, so a crash never leaves a torn
one, and they hold tensors and plain values only (``weights_only=True`` loads them).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from fusion_ros.errors import ConfigError, TrainingError
from fusion_ros.training.config import TrainConfig
from fusion_ros.training.data import PairCache, PatchDataset, split_validation
from fusion_ros.training.distributed import DistContext, setup_distributed
from fusion_ros.training.run import TrainingRun, atomic_save
from fusion_ros.training.runlog import RunLog
from fusion_ros.training.schedule import lr_factor
from fusion_ros.training.sources import load_sources
from fusion_ros.training.validation import ValidationWindows, validate

__all__ = ['atomic_save', 'train']

MAX_SKIPPED = 20  # steps with non-finite gradients a run survives before it gives up
# a fused image that spans less than one 8-bit level on every validation window, this many
# validations in a row, is a dead network (a PIAFusion fold's tanh head sat at -1 for 144
# steps of a 2-hour run before anyone looked)
FLAT_RANGE = 1 / 255
FLAT_VALIDATIONS = 2
# a fused image whose EN, SD and SF stay the same (to this relative tolerance) this many
# validations in a row, in the first half of a run, has stopped learning: FastFusion's
# fusion maps saturated in the first epoch of a leave-LLVIP-out run without map_range and
# trained on unchanged for 30 (issue 39); the light curve and day head still learned
FROZEN_RTOL = 1e-5
FROZEN_VALIDATIONS = 3
# a fused image that correlates this closely with one source is a copy of it, not a fusion,
# however high its Qabf and VIF; one this far below zero draws that source inverted. Two
# PIAFusion folds with edge weight 80 learnt the thermal image (r = 0.997 on RoadScene) and
# its negative (r = -0.989); the shipped PIAFusion and FastFusion files stay within
# 0.06..0.96 on samples of every shared set (issue 39, models/piafusion.md)
COPY_CORRELATION = 0.98
INVERTED_CORRELATION = -0.9


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or continue) the training described by ``config``; returns the summary that is
    also written to ``RUN_DIR/summary.json``.

    Raises:
        ConfigError: bad data specs, settings or checkpoints (the message says which).
        FloatingPointError: the loss became NaN or infinite.
    """
    ctx = setup_distributed(config.device)  # the group stays up for later stages
    return _train(config, ctx, resume, progress and ctx.is_main,
                  log if ctx.is_main else (lambda _: None))


def _datasets(config: TrainConfig, ctx: DistContext, log: Callable[[str], None]
              ) -> tuple[PatchDataset, ValidationWindows | None]:
    pairs = load_sources(config.data, exclude=config.exclude)
    if config.val_data:
        train_pairs, val_pairs = pairs, load_sources(config.val_data, exclude=config.exclude)
    else:
        train_pairs, val_pairs = split_validation(pairs, config.val_fraction, config.seed)
    labelled = sum(p.is_night is not None for p in train_pairs)
    log(f'{len(train_pairs)} training pairs ({labelled} with day/night labels), '
        f'{len(val_pairs)} validation pairs')
    train_set = PatchDataset(PairCache(train_pairs, config.cache_mb), config.patch,
                             config.sampling, config.patches_per_image, config.stride,
                             config.flips, config.seed, night_augment=config.night_augment,
                             photometric=config.photometric, zoom=config.zoom,
                             zoom_spread=config.zoom_spread)
    val_set = None
    if val_pairs and ctx.is_main:
        val_set = ValidationWindows(PairCache(val_pairs, config.cache_mb),
                                    config.val_tile or config.patch, config.val_margin,
                                    config.val_patches)
    return train_set, val_set


def _train(config: TrainConfig, ctx: DistContext, resume: bool, progress: bool,
           log: Callable[[str], None]) -> dict[str, Any]:
    from tqdm import tqdm

    out = Path(config.out)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    ctx.barrier()
    run = TrainingRun(config, ctx)
    last = out / 'last.pt'
    if last.exists() and not resume:
        raise ConfigError(f'{str(out)!r} already holds a run (last.pt): continue it with '
                          '--resume or choose another --out')
    if resume and last.exists():
        run.restore(last)
        log(f'resuming {last} at step {run.step}')
    elif resume:
        log(f'nothing to resume in {out}: starting afresh')
    if config.init and run.step == 0:
        run.load_init(config.init)
        log(f'starting from the weights in {config.init}')
    if run.trainable is not None:
        total = sum(p.numel() for p in run.objective.model.parameters())
        log(f'training only {config.train_only}: {run.trainable:,} of {total:,} parameters, '
            'the rest frozen')
    train_set, val_set = _datasets(config, ctx, log)
    per_rank = len(train_set) // ctx.world
    steps_per_epoch = per_rank // config.batch
    if steps_per_epoch == 0:
        raise ConfigError(f'{len(train_set)} training patches make no batch of {config.batch} '
                          f'per process (x{ctx.world}): lower --batch or add data')
    total = config.steps or config.epochs * steps_per_epoch
    if ctx.is_main:
        (out / 'config.yaml').write_text(yaml.safe_dump(config.as_dict(), sort_keys=False))
    runlog = RunLog(out, run.step if resume else None, enabled=ctx.is_main)
    objective = run.objective.train()
    model = objective
    if ctx.active:
        model = torch.nn.parallel.DistributedDataParallel(
            objective, device_ids=[ctx.device.index] if ctx.device.type == 'cuda' else None)
    n_params = sum(p.numel() for p in objective.model.parameters())
    log(f'{config.model}: {n_params:,d} parameters, {len(train_set)} patches/epoch, '
        f'{steps_per_epoch} steps/epoch x {ctx.world} process(es), {total} steps on '
        f'{ctx.device}, {run.precision.describe()}')
    started = time.perf_counter()
    start_step = run.step
    bar = tqdm(total=total, initial=run.step, disable=not progress, unit='step',
               desc=config.model)
    val_row: dict[str, float] = {}
    pending: _StepRecord | None = None
    sampler = DistributedSampler(train_set, ctx.world, ctx.rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    order = _EpochOrder()
    workers = _loader_workers(config.workers, ctx.device)
    # one loader for the whole run: persistent workers keep their decoded-pair caches;
    # pinned batches on a GPU, so the copy in run.inputs overlaps the previous step
    loader = DataLoader(train_set, batch_size=config.batch, sampler=order, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=ctx.device.type == 'cuda')
    while run.step < total:
        epoch, skip = divmod(run.step, steps_per_epoch)
        objective.epoch = epoch
        sampler.set_epoch(epoch)
        order.items = [(epoch, i) for i in
                       list(sampler)[skip * config.batch:steps_per_epoch * config.batch]]
        for ir, rgb, day in loader:
            lr = config.lr * lr_factor(config, run.step, steps_per_epoch, total)
            for group in run.optimizer.param_groups:
                group['lr'] = lr
            ir, rgb, day = run.inputs(ir, rgb, day)
            objective.progress = run.step / total
            terms = model(ir, rgb, day)  # networks under autocast, losses in fp32
            run.optimizer.zero_grad(set_to_none=True)
            run.scaler.scale(terms['total']).backward()
            if config.grad_clip:
                terms['grad_norm'] = run.clip_gradients()
            skipped = run.optimizer_step()
            run.update_average()
            run.scaler.update()
            run.step += 1
            # the step's numbers stay on the device until the next step is queued: a GPU is
            # never left idle while the host reads them (see _StepRecord)
            names = list(terms)
            record = _StepRecord(run.step, epoch + 1, lr,
                                 names, ctx.mean(torch.stack(
                                     [terms[k].detach().float().reshape(()) for k in names]
                                     + [skipped])))
            if pending is not None:
                pending.write(run, runlog, bar, log)
            pending = record
            epoch_done = run.step % steps_per_epoch == 0
            due = bool(config.save_every) and run.step % config.save_every == 0
            if epoch_done or run.step == total or due:  # checkpoints hold the skip count
                pending.write(run, runlog, bar, log)
                pending = None
            if epoch_done or run.step == total:
                val_row = _end_of_epoch(run, val_set, runlog, epoch, log,
                                        early=run.step <= total // 2)
            elif due:
                ctx.sync_buffers(objective)
                if ctx.is_main:
                    atomic_save(run.checkpoint(), last)
            if run.step >= total:
                break
    bar.close()
    ctx.sync_buffers(objective)
    difference = ctx.max_weight_difference(objective)
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {}
    if ctx.is_main:
        with run.averaged():
            final = run.export('final.pt', val_row)
            if not (out / 'best.pt').exists():  # no validation split: the final weights
                run.export('best.pt', val_row)
        runlog.close()
        summary = {'model': config.model, 'steps': run.step, 'steps_this_run':
                   run.step - start_step, 'epochs': math.ceil(run.step / steps_per_epoch),
                   'seconds': round(seconds, 1), 'best': str(out / 'best.pt'),
                   'best_step': run.best_step, 'skipped_steps': run.skipped,
                   'best_by': config.best_by, 'best_value': _reported(config.best_by, run.best),
                   'final': str(final),
                   'final_val': val_row, 'params': n_params, 'device': str(ctx.device),
                   'precision': run.precision.describe(),
                   'ddp': {'world_size': ctx.world, 'backend': ctx.backend,
                           'max_weight_difference': difference}}
        (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    ctx.barrier()
    return summary


class _StepRecord:
    """One step's loss terms and skip flag, still on the device, written out later."""

    def __init__(self, step: int, epoch: int, lr: float, names: list[str],
                 values: torch.Tensor) -> None:
        self.step, self.epoch, self.lr, self.names, self.values = step, epoch, lr, names, values

    def write(self, run: TrainingRun, runlog: RunLog, bar: Any,
              log: Callable[[str], None]) -> None:
        """Read the numbers back (a host sync), stop on a non-finite loss, count a skipped
        step, log the row."""
        *values, skipped = self.values.tolist()
        terms = dict(zip(self.names, values))
        if not math.isfinite(terms['total']):
            raise FloatingPointError(f'loss became {terms["total"]} at step {self.step}; '
                                     'lower --lr')
        if skipped:
            run.skipped += 1
            if run.skipped > MAX_SKIPPED:
                raise FloatingPointError(
                    f'non-finite gradients in {run.skipped} steps (the latest at step '
                    f'{self.step}); lower --lr or try --precision fp32')
            log(f'step {self.step}: non-finite gradients with a finite loss, the step is '
                f'skipped ({run.skipped} so far)')
        row = {'step': self.step, 'epoch': self.epoch, 'loss': terms.pop('total'), **terms,
               'lr': self.lr}
        runlog.step(row)
        bar.update()
        bar.set_postfix(loss=f'{row["loss"]:.4f}', epoch=self.epoch)


class _EpochOrder(Sampler):
    """The items of the current epoch as ``(epoch, index)`` (see PatchDataset), set by the
    trainer before each epoch; a resumed run's first epoch starts mid-way."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(list(self.items))

    def __len__(self) -> int:
        return len(self.items)


def _loader_workers(workers: int, device: torch.device) -> int:
    """-1 (auto): none on the CPU, where a worker takes a core from the step itself; with
    a GPU up to 4, leaving a core for the training process."""
    if workers >= 0:
        return workers
    if device.type == 'cpu':
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _sign(best_by: str) -> float:
    """best.pt minimises the loss, or minus a fusion score (every one: higher is better)."""
    return 1.0 if best_by == 'loss' else -1.0


def _reported(best_by: str, best: float) -> float | None:
    return _sign(best_by) * best if math.isfinite(best) else None


def _selection_value(best_by: str, row: dict[str, float]) -> float:
    """What best.pt minimises (see :func:`_sign`)."""
    if best_by not in row:  # a model without a fused output scores no metric
        raise ConfigError(f'best_by {best_by!r}: validation reports only {sorted(row)}')
    return _sign(best_by) * row[best_by]


def _end_of_epoch(run: TrainingRun, val_set: ValidationWindows | None, runlog: RunLog, epoch: int,
                  log: Callable[[str], None], early: bool = False) -> dict[str, float]:
    """Validate, keep the best weights, checkpoint (rank 0); the other ranks wait.
    ``early``: the first half of the run, where a fused image that stops changing is a
    stalled network rather than a converged one."""
    ctx = run.ctx
    ctx.sync_buffers(run.objective)
    row: dict[str, float] = {}
    if ctx.is_main:
        with run.averaged():  # the weights best.pt would hold
            row = validate(run, val_set)
            if row:
                runlog.validation({'step': run.step, 'epoch': epoch + 1, **row})
                log(f'epoch {epoch + 1} step {run.step}: validation ' +
                    ' '.join(f'{k} {v:.4g}' for k, v in row.items()))
                warning = copy_warning(row)
                if warning:
                    log(f'warning (step {run.step}): {warning}')
                value = _selection_value(run.config.best_by, row)
                if value < run.best:
                    run.best, run.best_step = value, run.step
                    run.export('best.pt', row)
        atomic_save(run.checkpoint(), run.out / 'last.pt')
    _stop_if_flat(run, row)
    _stop_if_frozen(run, row, early)
    ctx.barrier()
    return row


def _in_a_row(run: TrainingRun, streak: list[int], hit: bool, needed: int,
              start: int | None = None) -> bool:
    """Count the validations in a row where ``hit`` (rank 0 decides, every rank counts
    alike) in ``streak``, their steps, begun at ``start`` when given; True once it holds
    ``needed``."""
    if float(run.ctx.mean(torch.tensor(float(run.ctx.is_main and hit)))) == 0.0:
        streak.clear()
        return False
    if not streak and start is not None:
        streak.append(start)
    streak.append(run.step)
    return len(streak) >= needed


def copy_warning(row: dict[str, float]) -> str | None:
    """What to tell the user when a validation's fused image copies one source
    (``corr_ir`` / ``corr_vi`` >= COPY_CORRELATION) or inverts one (<=
    INVERTED_CORRELATION); None when it does neither. A warning, not a stop: a night scene
    whose visible image holds almost nothing can come close."""
    for key, source in (('corr_ir', 'thermal'), ('corr_vi', 'visible')):
        r = row.get(key, 0.0)
        if r >= COPY_CORRELATION or r <= INVERTED_CORRELATION:
            what = (f'a copy of the {source} image, not a fusion of both' if r > 0 else
                    f'the {source} image inverted (its bright parts dark)')
            return (f'the fused image is {what} (correlation {r:.3f} on the validation '
                    'pairs), whatever its Qabf; a loss term that outweighs the intensity '
                    'terms (a high edge weight) can do this')
    return None


def _stop_if_flat(run: TrainingRun, row: dict[str, float]) -> None:
    """Stop a run whose fused image has been one flat value on every validation window for
    FLAT_VALIDATIONS validations in a row (every rank stops: rank 0 decides)."""
    flat = row.get('fused_range', math.inf) < FLAT_RANGE
    if _in_a_row(run, run.flat_steps, flat, FLAT_VALIDATIONS):
        steps = ', '.join(map(str, run.flat_steps))
        raise TrainingError(
            f'the fused image is one flat value on every validation window at steps {steps}: '
            'the output head has saturated, where no gradient reaches it, so more steps '
            'cannot bring it back (last.pt holds the dead weights); start the run again '
            'with a warm-up (warmup_steps: 100) or a lower --lr')


def _stop_if_frozen(run: TrainingRun, row: dict[str, float], early: bool) -> None:
    """Stop a run whose fused image has stopped changing: EN, SD and SF the same
    (FROZEN_RTOL) for FROZEN_VALIDATIONS validations in a row, in the first half of the run.
    A ``train_only`` run (a head retrained on frozen features) keeps its fused image by
    design and is not checked; neither is one whose validation scores no fused image."""
    scores = [row.get(k) for k in ('EN', 'SD', 'SF')]
    (previous_step, previous), run.fused_scores = run.fused_scores, (run.step, scores)
    same = (early and not run.config.train_only and None not in scores + previous
            and all(math.isclose(a, b, rel_tol=FROZEN_RTOL, abs_tol=1e-12)
                    for a, b in zip(previous, scores)))
    if _in_a_row(run, run.frozen_steps, same, FROZEN_VALIDATIONS, start=previous_step):
        steps = ', '.join(map(str, run.frozen_steps))
        raise TrainingError(
            f'the fused image has not changed between the validations at steps {steps} (EN, '
            'SD and SF the same): the fusion maps have saturated, where no gradient reaches '
            'them, so the fused image will not learn (last.pt holds the stalled weights); '
            'start the run again with loss.map_range: 0.1 (FastFusion), a warm-up '
            '(warmup_steps: 100) or a lower --lr')

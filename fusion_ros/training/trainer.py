# SPDX-License-Identifier: Apache-2.0
"""The training loop shared by every model: resumable, validated, DDP-ready.

A run folder holds ``config.yaml`` (the resolved settings), ``last.pt`` (model, optimiser,
step and RNG state; the learning rate is a function of the step, ``training.schedule``:
``--resume`` continues it exactly), ``best.pt`` (the weights
with the lowest validation loss, or the highest ``best_by`` score; the engine loads it by
``--weights``), ``final.pt``,
``log.csv``, ``val.csv``, TensorBoard events, ``loss.png`` and ``summary.json``.
Checkpoints are written to a temporary file and renamed, so a crash never leaves a torn
one, and they hold tensors and plain values only (``weights_only=True`` loads them).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from fusion_ros.engine.precision import Precision, resolve_precision
from fusion_ros.errors import ConfigError
from fusion_ros.training.config import TrainConfig
from fusion_ros.training.data import PairCache, PatchDataset, split_validation
from fusion_ros.training.distributed import DistContext, setup_distributed
from fusion_ros.training.objectives import build_objective
from fusion_ros.training.runlog import RunLog
from fusion_ros.training.schedule import lr_factor
from fusion_ros.training.sources import load_sources
from fusion_ros.training.validation import HIGHER_IS_BETTER, ValidationWindows, validate

__all__ = ['atomic_save', 'train']

MAX_SKIPPED = 20  # steps with non-finite gradients a run survives before it gives up


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    tmp = path.with_name(f'.{path.name}.tmp')
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rng_state() -> dict[str, Any]:
    state = {'torch': torch.get_rng_state(), 'python': random.getstate()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state['torch'])
    random.setstate(state['python'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def freeze_all_but(model: torch.nn.Module, prefixes: list[str]) -> int:
    """Train only the parameters whose names start with one of ``prefixes`` (a head
    retrained on frozen features); returns how many weights stay trainable.

    Raises:
        ConfigError: a prefix that names no parameter (a typo would freeze everything).
    """
    names = [name for name, _ in model.named_parameters()]
    unmatched = [pre for pre in prefixes if not any(n.startswith(pre) for n in names)]
    if unmatched:
        heads = sorted({n.split('.')[0] for n in names})
        raise ConfigError(f'train_only {unmatched} names no parameter; top-level: {heads}')
    kept = 0
    for name, param in model.named_parameters():
        keep = any(name.startswith(pre) for pre in prefixes)
        param.requires_grad_(keep)
        kept += param.numel() if keep else 0
    return kept


class _Run:
    """State of one training run (one process; rank 0 of many under DDP)."""

    def __init__(self, config: TrainConfig, ctx: DistContext) -> None:
        self.config, self.ctx = config, ctx
        self.out = Path(config.out)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.objective = build_objective(config.model, config.model_options, config.loss,
                                         config.settings).to(ctx.device)
        multiple = getattr(self.objective.model, 'size_multiple', 1)
        window = (config.val_tile or config.patch) + 2 * config.val_margin
        if config.patch % multiple or window % multiple:
            raise ConfigError(f'{config.model} needs patch and validation window sizes '
                              f'(val_tile + 2 val_margin) that are multiples of {multiple}, '
                              f'got {config.patch} and {window}')
        # the weights train_only leaves trainable; None: every weight trains
        self.trainable = (freeze_all_but(self.objective.model, config.train_only)
                          if config.train_only else None)
        params = [p for p in self.objective.parameters() if p.requires_grad]
        # fused: one kernel for all parameters (7x faster than foreach for DFVO's 10 M on
        # this CPU) that can skip a step on the device (optimizer_step)
        self.optimizer = torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas),
                                          weight_decay=config.weight_decay, fused=True)
        # mixed precision: fp32 master weights, autocast forward (bf16 on CPUs that compute
        # it natively and on recent GPUs, else fp16 with a gradient scaler), NHWC activations
        gains = getattr(self.objective.model, 'auto_precision', True)  # classifier: a CNN too
        self.precision: Precision = resolve_precision(config.precision, ctx.device, gains)
        if self.precision.channels_last:
            self.objective.to(memory_format=torch.channels_last)
        # only the networks run under autocast; the loss terms in fp32 (training.objectives)
        self.objective.network_autocast = self.autocast
        self.scaler = torch.amp.GradScaler(ctx.device.type,
                                           enabled=self.precision.name == 'fp16')
        self.step = 0
        self.skipped = 0  # steps left out for non-finite gradients
        self.best = math.inf
        self.best_step = 0

    def non_finite_gradients(self) -> torch.Tensor:
        """1.0 when any gradient holds inf/NaN, else 0.0, as a tensor on the device (a
        reduced-precision kernel can return them with a finite loss; one such update would
        turn every weight NaN)."""
        grads = [p.grad for group in self.optimizer.param_groups for p in group['params']
                 if p.grad is not None]
        if not grads:
            return torch.zeros((), device=self.ctx.device)
        return (~torch.isfinite(torch.nn.utils.get_total_norm(grads))).float()

    def optimizer_step(self) -> torch.Tensor:
        """Apply the gradients unless one is inf/NaN; returns 1.0 for a skipped step (0.0
        under fp16, whose gradient scaler skips inf steps and lowers its scale itself).

        Decided on the device: the fused Adam skips the update when its ``found_inf`` is
        set (parameters, moments and step count untouched), so no step waits for the host
        to read a flag back from the GPU.
        """
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            return torch.zeros((), device=self.ctx.device)
        found = self.non_finite_gradients()
        self.optimizer.found_inf = found  # read by the fused kernel, as GradScaler does
        try:
            self.optimizer.step()
        finally:
            del self.optimizer.found_inf
        return found

    def clip_gradients(self) -> torch.Tensor:
        """Scale the gradients down to a norm of ``grad_clip`` at most; returns the norm
        before (inf/NaN stays so, and the step is then skipped)."""
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not scaled ones
        params = [p for group in self.optimizer.param_groups for p in group['params']
                  if p.grad is not None]
        return torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip, foreach=True)

    def autocast(self) -> Any:
        """The networks' autocast context (a no-op in fp32)."""
        return torch.autocast(self.ctx.device.type, dtype=self.precision.dtype,
                              enabled=self.precision.name != 'fp32')

    def inputs(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """Batches on the run's device, NHWC when the run is."""
        moved = [t.to(self.ctx.device, non_blocking=True) for t in tensors]
        if self.precision.channels_last:
            moved = [t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
                     for t in moved]
        return moved

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        return {'model': self.objective.model.state_dict(),
                'optimizer': self.optimizer.state_dict(),
                'scaler': self.scaler.state_dict(),
                'step': self.step,
                'skipped': self.skipped,
                'best': self.best, 'best_step': self.best_step, 'rng': _rng_state(),
                'config': self.config.as_dict()}

    def restore(self, path: Path) -> None:
        try:
            # on the CPU: RNG states must stay CPU ByteTensors (set_rng_state refuses CUDA
            # ones); load_state_dict moves weights and optimiser state to their parameters
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:  # torn, foreign or code-carrying files
            raise ConfigError(f'cannot resume from {str(path)!r}: {err}') from err
        if ckpt.get('config', {}).get('model') != self.config.model:
            raise ConfigError(f'{str(path)!r} is a {ckpt.get("config", {}).get("model")} run, '
                              f'not {self.config.model}')
        self.objective.model.load_state_dict(ckpt['model'])
        self.optimizer.load_state_dict(ckpt['optimizer'])
        _keep_fused(self.optimizer)
        if ckpt.get('scaler'):
            self.scaler.load_state_dict(ckpt['scaler'])
        self.step, self.best = int(ckpt['step']), float(ckpt['best'])
        self.skipped = int(ckpt.get('skipped', 0))
        self.best_step = int(ckpt['best_step'])
        _set_rng_state(ckpt['rng'])

    def load_init(self, path: Path | str) -> None:
        """Start from the weights in ``path`` (strictly: every key, every shape)."""
        from fusion_ros.models._builder import load_state_dict

        state = self.objective.import_state(load_state_dict(path))
        try:
            self.objective.model.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ConfigError(f'init weights {str(path)!r} do not fit {self.config.model}: '
                              f'{first}') from err

    def export(self, name: str, val: dict[str, float] | None = None) -> Path:
        path = self.out / name
        atomic_save({'model': self.objective.export(), 'model_name': self.objective.model_name
                     or self.config.model, 'model_options': dict(self.config.model_options),
                     'trainer': self.config.model, 'step': self.step, 'val': val or {},
                     **self.objective.export_meta()}, path)
        return path


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
                             config.flips, config.seed, night_augment=config.night_augment)
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
    run = _Run(config, ctx)
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
            terms = model(ir, rgb, day)  # networks under autocast, losses in fp32
            run.optimizer.zero_grad(set_to_none=True)
            run.scaler.scale(terms['total']).backward()
            if config.grad_clip:
                terms['grad_norm'] = run.clip_gradients()
            skipped = run.optimizer_step()
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
                val_row = _end_of_epoch(run, val_set, runlog, epoch, log)
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


def _keep_fused(optimizer: torch.optim.Optimizer) -> None:
    """A checkpoint restores its param groups' implementation flags: one written before
    Adam was fused (or by a foreach run) would bring back the kernel that cannot skip a
    step on the device. The state is the same either way; the fused kernel wants each
    step count as a float32 tensor on its parameter's device."""
    for group in optimizer.param_groups:
        group['fused'], group['foreach'] = True, None
        for p in group['params']:
            state = optimizer.state.get(p, {})
            if 'step' in state:
                state['step'] = torch.as_tensor(state['step'], dtype=torch.float32).to(p.device)


class _StepRecord:
    """One step's loss terms and skip flag, still on the device, written out later."""

    def __init__(self, step: int, epoch: int, lr: float, names: list[str],
                 values: torch.Tensor) -> None:
        self.step, self.epoch, self.lr, self.names, self.values = step, epoch, lr, names, values

    def write(self, run: _Run, runlog: RunLog, bar: Any, log: Callable[[str], None]) -> None:
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


def _reported(best_by: str, best: float) -> float | None:
    if not math.isfinite(best):
        return None
    return -best if best_by in HIGHER_IS_BETTER else best


def _selection_value(best_by: str, row: dict[str, float]) -> float:
    """What best.pt minimises: the validation loss, or minus a fusion score."""
    if best_by not in row:  # a model without a fused output scores no metric
        raise ConfigError(f'best_by {best_by!r}: validation reports only {sorted(row)}')
    return -row[best_by] if best_by in HIGHER_IS_BETTER else row[best_by]


def _end_of_epoch(run: _Run, val_set: ValidationWindows | None, runlog: RunLog, epoch: int,
                  log: Callable[[str], None]) -> dict[str, float]:
    """Validate, keep the best weights, checkpoint (rank 0); the other ranks wait."""
    ctx = run.ctx
    ctx.sync_buffers(run.objective)
    row: dict[str, float] = {}
    if ctx.is_main:
        row = validate(run, val_set)
        if row:
            runlog.validation({'step': run.step, 'epoch': epoch + 1, **row})
            log(f'epoch {epoch + 1} step {run.step}: validation ' +
                ' '.join(f'{k} {v:.4g}' for k, v in row.items()))
            value = _selection_value(run.config.best_by, row)
            if value < run.best:
                run.best, run.best_step = value, run.step
                run.export('best.pt', row)
        atomic_save(run.checkpoint(), run.out / 'last.pt')
    ctx.barrier()
    return row

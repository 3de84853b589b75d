# SPDX-License-Identifier: Apache-2.0
"""One training run's state: the objective and its networks, optimiser, precision, step and
best score, and the checkpoints that hold them (tensors and plain values only, written
atomically: ``weights_only=True`` loads them, a crash never leaves a torn one)."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from fusion_ros.engine.precision import Precision, resolve_precision
from fusion_ros.errors import ConfigError
from fusion_ros.training.averaging import WeightAverage
from fusion_ros.training.config import TrainConfig
from fusion_ros.training.distributed import DistContext
from fusion_ros.training.objectives import build_objective

__all__ = ['TrainingRun', 'atomic_save', 'freeze_all_but']


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


class TrainingRun:
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
        self.flat_steps: list[int] = []  # validations in a row with a flat fused image
        # (step, [EN, SD, SF]) of the last validation, and the steps of the validations in
        # a row with that same fused image
        self.fused_scores: tuple[int, list[float | None]] = (0, [None] * 3)
        self.frozen_steps: list[int] = []
        self.best = math.inf
        self.best_step = 0
        # the weights validation and the exports use, when averaged (config.ema)
        self.average = (WeightAverage(self.objective.model, config.ema) if config.ema
                        else None)

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

    def update_average(self) -> None:
        """Fold this step's weights into the average (nothing when ``ema`` is off)."""
        if self.average is not None:
            self.average.update()

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """The model holds the weights that are validated and exported inside the block:
        the moving average when ``ema`` is on, else the step's own."""
        with self.average.applied() if self.average is not None else nullcontext():
            yield

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
                'config': self.config.as_dict(),
                **({'average': self.average.state_dict()} if self.average else {})}

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
        if self.average is not None:
            if 'average' not in ckpt:
                raise ConfigError(f'{str(path)!r} holds no weight average: it was trained '
                                  'without ema, so the run cannot resume with it')
            self.average.load_state_dict(ckpt['average'])
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

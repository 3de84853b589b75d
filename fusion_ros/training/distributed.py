# SPDX-License-Identifier: Apache-2.0
"""PyTorch DDP plumbing: one process per device, started by ``torchrun``.

``torchrun --nproc_per_node N -m fusion_ros.train MODEL ...`` sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; we join the group (gloo on the CPU, NCCL on GPUs), every rank trains on
its own slice of each epoch, gradients are averaged by DDP, and only rank 0 writes files.
Without those variables everything here is a no-op on one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from fusion_ros.errors import ConfigError

__all__ = ['DistContext', 'setup_distributed', 'shutdown_distributed']


@dataclass
class DistContext:
    """Where this process stands: ``rank`` of ``world`` processes, its ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device('cpu')
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Average of ``values`` over the ranks (itself on one process)."""
        if not self.active:
            return values
        values = values.detach().clone().to(self.device)
        dist.all_reduce(values)
        return values / self.world

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sync_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank: each rank's
        last forward updated them with its own batch."""
        if self.active:
            for buf in module.buffers():
                dist.broadcast(buf, 0)

    def max_weight_difference(self, module: nn.Module) -> float:
        """Largest |w - w_rank0| over all parameters and buffers of all ranks (0 when the
        ranks agree bit for bit)."""
        if not self.active:
            return 0.0
        worst = torch.zeros((), device=self.device)
        for tensor in (*module.parameters(), *module.buffers()):
            ref = tensor.detach().clone()
            dist.broadcast(ref, 0)
            if tensor.numel():
                worst = torch.maximum(worst, (tensor.detach() - ref).abs().max().float())
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        return float(worst)


def _device(name: str, local_rank: int, world: int = 1) -> torch.device:
    """This rank's device for ``--device name``. Under torchrun (``world`` > 1) each rank
    takes ``cuda:LOCAL_RANK``: an explicit ``cuda:N`` would put every rank on one GPU, which
    NCCL refuses with an obscure error, so it is refused here in plain words."""
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda' or name.startswith('cuda:'):
        if not torch.cuda.is_available():
            raise ConfigError(f'--device {name}: this torch has no CUDA device')
        index = local_rank
        if name != 'cuda':
            if world > 1:
                raise ConfigError(f'--device {name} under torchrun would put all {world} '
                                  'ranks on one GPU; pass --device cuda (each rank takes '
                                  'cuda:LOCAL_RANK) and choose GPUs with CUDA_VISIBLE_DEVICES')
            try:
                index = int(name.split(':', 1)[1])
            except ValueError:
                raise ConfigError(f'--device must be auto, cpu, cuda or cuda:N, got '
                                  f'{name!r}') from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise ConfigError(f'--device {name}: no CUDA device {index} (this machine has '
                              f'{count}: cuda:0..cuda:{count - 1})' if count else
                              f'--device {name}: no CUDA device is visible')
        return torch.device('cuda', index)
    if name != 'cpu':
        raise ConfigError(f'--device must be auto, cpu, cuda or cuda:N, got {name!r}')
    return torch.device('cpu')


def setup_distributed(device: str = 'auto') -> DistContext:
    """Join the torchrun process group when there is one; pick this rank's device."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    dev = _device(device, local_rank if world > 1 else 0, world)
    if world <= 1:
        if dev.type == 'cuda':
            torch.cuda.set_device(dev)
        return DistContext(device=dev)
    backend = 'nccl' if dev.type == 'cuda' else 'gloo'
    if dev.type == 'cuda':
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), dev, backend)


def shutdown_distributed() -> None:
    """Leave the process group (end of the program; a no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

# SPDX-License-Identifier: Apache-2.0
"""Where and in what precision the engine's network runs: device choice, CUDA's fast
kernels, submodules kept in fp32."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fusion_ros.errors import ConfigError

__all__ = ['keep_fp32', 'resolve_device', 'use_fast_cuda_kernels']


def keep_fp32(model: torch.nn.Module, names: Sequence[str]) -> None:
    """Run the named submodules of a reduced-precision ``model`` in fp32 on fp32 inputs."""
    for name in names:
        module = model.get_submodule(name)
        module.float()
        module.register_forward_pre_hook(
            lambda _m, args: tuple(a.float() if torch.is_tensor(a) else a for a in args))


def use_fast_cuda_kernels() -> None:
    """TF32 matmuls and convolutions (Ampere and newer: about 1e-3 relative error, far below
    what an 8-bit image shows) and cuDNN autotuning (camera frames keep one size, so the
    tuning the first frame pays for is reused). Process-wide, like every torch backend flag."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def resolve_device(device: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f'invalid device {device!r}: use auto, cpu or cuda[:N]') from err
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise ConfigError(f'device {device!r} requested but CUDA is not available')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f'device {device!r}: only {torch.cuda.device_count()} GPU(s)')
    elif dev.type != 'cpu':
        raise ConfigError(f'device {device!r} is not supported; use auto, cpu or cuda[:N]')
    return dev

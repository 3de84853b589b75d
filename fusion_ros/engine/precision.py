# SPDX-License-Identifier: Apache-2.0
"""Which number format and memory layout a model runs in: what ``precision: auto`` means.

``auto`` picks the fastest format that keeps a model's output faithful:

- CUDA: bf16 where the GPU has it (Ampere and later: fp32's range, no overflow), else fp16;
- a CPU with AMX tiles (Xeon 4th gen and later): bf16 with channels_last, where oneDNN
  runs bf16 convolutions 2.5-3x faster than fp32. AVX512-BF16 alone computes bf16 natively
  but was slower than fp32 on every model but DIDFuse (AMD EPYC: PIAFusion 5.3 s against
  4.4 s; an Intel Xeon without AMX: DFVO 32.9 s against 29.2 s; docs/BENCHMARKS.md);
- anything else, and models that do not gain (``FusionModel.auto_precision`` False, e.g.
  the classical per-pixel rules; ``auto_precision_cpu`` False on a CPU, e.g. FastFusion):
  fp32.

``fp32``, ``bf16`` and ``fp16`` always mean exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fusion_ros.defaults import PRECISIONS
from fusion_ros.errors import ConfigError

__all__ = ['DTYPES', 'PRECISIONS', 'Precision', 'cpu_has_amx', 'cpu_has_native_bf16',
           'model_gains', 'resolve_precision']

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX), as torch detects it.

    ``torch.ops.mkldnn._is_mkldnn_bf16_supported`` is not enough: it is also True on plain
    AVX-512 CPUs, where oneDNN emulates bf16 and is slower than fp32.
    """
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_has_amx() -> bool:
    """True on CPUs with AMX tiles (Xeon 4th gen and later), where bf16 convolutions are
    several times faster than fp32; with AVX512-BF16 alone OpenVINO's bf16 was slower than
    its fp32 (docs/BENCHMARKS.md)."""
    return bool(getattr(torch.cpu, '_is_amx_tile_supported', lambda: False)())


@dataclass(frozen=True)
class Precision:
    """A resolved precision.

    Attributes:
        name: ``fp32``, ``bf16`` or ``fp16`` (never ``auto``).
        channels_last: NHWC activations.
        requested: what the user asked for (``auto`` or the name).
        emulated: bf16 asked for on a CPU without native bf16: oneDNN emulates it, 5-7x
            slower than fp32 (docs/BENCHMARKS.md); ``auto`` never resolves to it.
    """

    name: str
    channels_last: bool
    requested: str
    emulated: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    def describe(self) -> str:
        """``bf16 channels_last (auto)``: what logs, diagnostics and benchmarks print."""
        text = self.name + (' channels_last' if self.channels_last else '')
        if self.emulated:
            text += ' (emulated: this CPU has no native bf16, fp32 is faster)'
        return f'{text} (auto)' if self.requested == 'auto' else text


def model_gains(model: object, device: torch.device) -> bool:
    """Whether ``auto`` may run ``model`` in reduced precision on ``device``."""
    if not getattr(model, 'auto_precision', False):
        return False
    return device.type != 'cpu' or getattr(model, 'auto_precision_cpu', True)


def resolve_precision(precision: str, device: torch.device, model_gains: bool = True,
                      channels_last: bool | None = None) -> Precision:
    """Resolve ``precision`` for ``device``.

    Args:
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        device: where the model runs.
        model_gains: the model runs faster in reduced precision without losing accuracy
            (``FusionModel.auto_precision``); False keeps ``auto`` at fp32.
        channels_last: None: NHWC whenever the result is a reduced precision (oneDNN's and
            cuDNN's fast bf16/fp16 kernels are NHWC); True/False forces it.

    Raises:
        ConfigError: unknown name, or fp16 on a CPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f'unknown precision {precision!r}; use one of {list(PRECISIONS)}')
    if precision == 'fp16' and device.type != 'cuda':
        raise ConfigError('precision fp16 needs a CUDA device; use fp32, bf16 or auto on the CPU')
    name = precision
    if precision == 'auto':
        if not model_gains:
            name = 'fp32'
        elif device.type == 'cuda':
            name = 'bf16' if torch.cuda.is_bf16_supported() else 'fp16'
        else:
            name = 'bf16' if cpu_has_amx() else 'fp32'
    layout = name != 'fp32' if channels_last is None else bool(channels_last)
    emulated = name == 'bf16' and device.type == 'cpu' and not cpu_has_native_bf16()
    return Precision(name, layout, precision, emulated)

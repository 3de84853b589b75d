# SPDX-License-Identifier: Apache-2.0
"""Speed and memory of one model through the engine (what ``fusion-ros bench model`` prints)."""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import numpy as np
import torch

from fusion_ros.defaults import DEFAULT_BACKEND, DEFAULT_PRECISION
from fusion_ros.engine.engine import FusionEngine

__all__ = ['bench_model', 'peak_memory_mb']


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA allocation on a GPU; on the CPU the process's peak resident set (it includes
    the interpreter and libraries, about 250 MB, so run one benchmark per process)."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench_model(model: str, size: tuple[int, int], *, device: str = 'auto',
                precision: str = DEFAULT_PRECISION, repeat: int = 10, warmup: int = 1,
                weights: str | None = None, random_init: bool = False,
                model_options: dict[str, Any] | None = None,
                channels_last: bool | None = None, compile: bool = False,  # noqa: A002
                enhanced: bool = False,
                model_only: bool = False, seed: int = 0,
                backend: str = DEFAULT_BACKEND,
                threads: int | str | None = 'auto') -> dict[str, Any]:
    """Time ``engine.fuse`` on a random 8-bit thermal + RGB pair of ``size`` (W, H); the
    fused image only unless ``enhanced``. ``model_only`` times the network's forward on
    ready tensors instead (no gain control, colour conversion or copies).

    Returns:
        ``{"model", "size", "device", "backend", "precision" (resolved, e.g. ``bf16``),
        "precision_requested", "precision_text", "channels_last", "compiled",
        "compile_error", "ms_median", "ms_p95", "peak_mem_mb", "params"}``; ms are wall
        time per frame after ``warmup`` frames (with ``compile``, warm-up compiles);
        ``"threads"``: the CPU threads it ran with (``fusion_ros.threads``).
    """
    engine = FusionEngine(model, weights=weights, device=device, precision=precision,
                          random_init=random_init, model_options=model_options,
                          channels_last=channels_last, compile=compile, enhanced=enhanced,
                          backend=backend, threads=threads)
    w, h = size
    rng = np.random.default_rng(seed)
    thermal = rng.integers(0, 256, (h, w), dtype=np.uint8)
    visible = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cuda = engine.device.type == 'cuda'
    m = engine.model.size_multiple
    ir_t = torch.rand(1, 1, h + (-h) % m, w + (-w) % m, device=engine.device,
                      dtype=engine.dtype)
    if engine.channels_last:
        ir_t = ir_t.contiguous(memory_format=torch.channels_last)

    def run() -> None:
        if not model_only:
            engine.fuse(thermal, visible)  # ends with a copy to the host: work is finished
            return
        with torch.inference_mode():
            engine.run_model(ir_t, ir_t)
        if cuda:
            torch.cuda.synchronize(engine.device)

    for _ in range(warmup):
        run()
    if cuda:
        torch.cuda.reset_peak_memory_stats(engine.device)
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize(engine.device)
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {
        'model': model,
        'size': f'{w}x{h}',
        'device': str(engine.device),
        'precision': engine.precision,
        'precision_requested': precision,
        'precision_text': engine.resolved.describe(),
        'channels_last': engine.channels_last,
        'backend': engine.runtime_for(w, h),
        'compiled': engine.compiled,
        'compile_error': engine.compile_error,
        'ms_median': round(statistics.median(times), 2),
        'ms_p95': round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 2),
        'peak_mem_mb': round(peak_memory_mb(engine.device), 1),
        'params': engine.model.num_params(),
        'threads': engine.threads_text,
    }

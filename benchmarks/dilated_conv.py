#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""FastFusion's dilation-8 depthwise convolution: oneDNN's kernel against nine shifted
multiply-adds (``fusion_ros.ops.conv``), alone and inside the whole network, A/B in
alternating rounds of one process (absolute times on shared machines drift up to 2x).

    .venv/bin/python benchmarks/dilated_conv.py [--threads 1 2] [--rounds 5] [--repeat 40]
        [--size 640x512]

Prints a Markdown table for docs/BENCHMARKS.md ("The dilated convolution"): median ms of
each round's median, and the range over rounds.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

import fusion_ros.models.fastfusion as ff
from fusion_ros.models import build_model
from fusion_ros.ops.conv import depthwise3x3_shifted


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', nargs='+', type=int, default=[1, 2])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--repeat', type=int, default=40)
    parser.add_argument('--size', default='640x512')
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split('x'))
    model = build_model('fastfusion').eval()
    ir, y = torch.rand(1, 1, height, width), torch.rand(1, 1, height, width)
    block = model.blocks[3]
    low = torch.rand(1, block.dw.in_channels, height // model.scale, width // model.scale)
    low_cl = low.contiguous(memory_format=torch.channels_last)

    def model_with(from_dilation: int, enhanced: bool) -> Callable[[], object]:
        def run() -> object:
            ff._SHIFTED_FROM_DILATION = from_dilation
            model.return_enhanced = enhanced  # off: what `bench model --model-only` times
            return model(ir, y)
        return run

    cases = {
        'conv alone, oneDNN, channels_last': lambda: block.dw(low_cl),
        'conv alone, oneDNN, NCHW': lambda: block.dw(low),
        'conv alone, shifted, channels_last': lambda: depthwise3x3_shifted(
            low_cl, block.dw.weight, block.dw.bias, 8),
        'FastFusion fused only, oneDNN conv (before)': model_with(10**6, False),
        'FastFusion fused only, shifted (now)': model_with(8, False),
        'FastFusion fused + enhanced, oneDNN conv (before)': model_with(10**6, True),
        'FastFusion fused + enhanced, shifted (now)': model_with(8, True),
    }
    print(f'{cpu_name()}; torch {torch.__version__}; {args.size}, guidance map '
          f'{low.shape[-1]}x{low.shape[-2]}x{low.shape[1]}; {args.rounds} alternating rounds '
          f'of {args.repeat}')
    print('\n| case | threads | median ms (range over rounds) |\n|---|---:|---|')
    with torch.inference_mode():
        for threads in args.threads:
            torch.set_num_threads(threads)
            found: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, fn in cases.items():
                    found[name].append(median_ms(fn, args.repeat))
            for name, values in found.items():
                print(f'| {name} | {threads} | {statistics.median(values):.2f} '
                      f'({min(values):.2f}-{max(values):.2f}) |')
    ff._SHIFTED_FROM_DILATION = 8


if __name__ == '__main__':
    main()

# SPDX-License-Identifier: Apache-2.0
"""Benchmarks. "bench model": ms/frame, peak memory and parameters of one model.

ms are the median and 95th percentile of --repeat frames through the inference engine
(gain control, colour, padding and the network) after --warmup frames. Peak memory is
the CUDA peak allocation on a GPU, the process's peak resident set on the CPU (includes
about 250 MB of interpreter and libraries).

Examples:
  fusion-ros bench model --model laplacian --size 640x512
  fusion-ros bench model --model dfvo --random-init --size 1280x1024 --repeat 1 --json
"""

from __future__ import annotations

import argparse

from fusion_ros.cli._args import add_model_arguments, size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='bench', required=True, metavar='WHAT')
    model = sub.add_parser('model', help='speed and memory of one model', description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(model, 'laplacian')
    model.add_argument('--size', type=size, default=(640, 512), metavar='WxH',
                       help='frame size (default: 640x512)')
    model.add_argument('--repeat', type=int, default=10, help='timed frames (default: 10)')
    model.add_argument('--warmup', type=int, default=1, help='untimed frames first (default: 1)')
    model.add_argument('--channels-last', action='store_true', help='NHWC activations')
    model.add_argument('--model-only', action='store_true',
                       help='time the network alone on ready tensors (no engine work)')
    model.add_argument('--json', action='store_true', help='print one JSON object')


def run(args: argparse.Namespace) -> int:
    import json

    from fusion_ros.engine.bench import bench_model
    from fusion_ros.errors import ConfigError

    if args.repeat < 1 or args.warmup < 0:
        raise ConfigError('--repeat must be >= 1 and --warmup >= 0')
    result = bench_model(args.model, args.size, device=args.device, precision=args.precision,
                         repeat=args.repeat, warmup=args.warmup, weights=args.weights,
                         random_init=args.random_init, model_options=dict(args.options),
                         channels_last=args.channels_last, model_only=args.model_only)
    if args.json:
        print(json.dumps(result))
    else:
        scope = 'model only' if args.model_only else 'engine'
        print(f"{result['model']} ({scope}) {result['size']} {result['device']} "
              f"{result['precision']}: "
              f"{result['ms_median']:.1f} ms median, {result['ms_p95']:.1f} ms p95, "
              f"peak {result['peak_mem_mb']:.0f} MB, {result['params']:,d} params")
    return 0

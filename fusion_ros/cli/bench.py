# SPDX-License-Identifier: Apache-2.0
"""Benchmarks. "bench model": ms/frame, peak memory and parameters of one model;
"bench pipeline": end-to-end latency and rate through the fusion node over real ROS
transport.

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

from fusion_ros.cli._args import (
    add_model_arguments,
    add_threads_argument,
    positive_float,
    size,
)
from fusion_ros.defaults import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL, PRECISIONS
from fusion_ros.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='bench', required=True, metavar='WHAT')
    model = sub.add_parser('model', help='speed and memory of one model', description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(model, 'laplacian')
    model.add_argument('--size', type=size, default=(640, 512), metavar='WxH',
                       help='frame size (default: 640x512)')
    model.add_argument('--repeat', type=int, default=10, help='timed frames (default: 10)')
    model.add_argument('--warmup', type=int, default=1, help='untimed frames first (default: 1)')
    model.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                       help='NHWC activations (default: with bf16/fp16, as the engine)')
    model.add_argument('--model-only', action='store_true',
                       help='time the network alone on ready tensors (no engine work)')
    model.add_argument('--json', action='store_true', help='print one JSON object')
    _add_load_argument(model)

    pipe = sub.add_parser('pipeline', help='end-to-end latency through the fusion node',
                          description=_PIPELINE_DOC,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    pipe.add_argument('--model', default=DEFAULT_MODEL, help='fusion model (default: %(default)s)')
    pipe.add_argument('--weights', default='', help='checkpoint for models that need one')
    pipe.add_argument('--size', type=size, default=(640, 512), metavar='WxH',
                      help='frame size (default: 640x512)')
    pipe.add_argument('--rate', type=positive_float, default=20.0,
                      help='camera frame rate in Hz (default: %(default)s)')
    pipe.add_argument('--seconds', type=positive_float, default=10.0,
                      help='length of the replayed sequence (default: %(default)s)')
    pipe.add_argument('--device', default='auto',
                      help="the node's device and the reference engine's: auto (default), cpu, "
                           'cuda or cuda:N')
    pipe.add_argument('--precision', default='auto', choices=PRECISIONS,
                      help="the node's precision and the reference engine's (default: auto)")
    pipe.add_argument('--backend', default=DEFAULT_BACKEND, choices=BACKENDS,
                      help="the node's backend and the reference engine's (default: auto)")
    pipe.add_argument('--no-enhanced', action='store_true',
                      help='node without enhanced/image_raw')
    pipe.add_argument('--param', action='append', default=[], metavar='NAME:=VALUE',
                      help='one more fusion node parameter (repeatable), e.g. '
                           'registration.check_every:=0')
    pipe.add_argument('--profile', action='store_true',
                      help="also print where a frame's time goes inside the node (p50 per "
                           'stage: decode, prepare, model, finish, publish)')
    pipe.add_argument('--json', action='store_true', help='print one JSON object')
    add_threads_argument(pipe)
    _add_load_argument(pipe)


def _add_load_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--load', type=int, default=0, metavar='N',
                        help='N busy-loop processes hold CPUs for the run (a busy computer, '
                             'as a robot is), stopped after it (default: 0)')


_PIPELINE_DOC = """End-to-end latency and sustained rate through the fusion node.

Writes a synthetic thermal + RGB sequence at --size and --rate, starts the fusion node as
its own process on a private ROS domain, plays the sequence in real time over Fast DDS and
records the outputs. Latency is RGB publish (the camera's stamp, live) to fused receipt;
p50/p95 over every fused frame. The ROS overhead is latency p50 minus the engine time p50
the node itself reports in /diagnostics for the same frames (transport both ways, message
conversion, pairing, the worker hand-off); the engine is also timed alone in this process
afterwards, for reference. The node also reports p50 per stage (--profile prints them, the
JSON always has them as node_stages_ms): decode (Image to NumPy), prepare (registration
warp, gain control, tensors, colour conversion), model (the network), finish (illumination,
recolouring, to uint8), publish (messages out), and the registration check every N-th frame.

Example:
  fusion-ros bench pipeline --model fastfusion --size 640x512 --rate 20
"""


def run(args: argparse.Namespace) -> int:
    from fusion_ros.errors import UsageError
    from fusion_ros.load import busy_load

    if args.load < 0:
        raise UsageError(f'--load must be >= 0, got {args.load}')
    with busy_load(args.load):
        return _pipeline(args) if args.bench == 'pipeline' else _model(args)


def _pipeline(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    from fusion_ros.cli.synth import write_synthetic_bag
    from fusion_ros.engine.bench import bench_model
    from fusion_ros.ros.pipeline import isolated_ros_env, run_pipeline

    bad = [p for p in args.param if ':=' not in p or p.startswith(':=')]
    if bad:
        raise ConfigError(f'--param wants NAME:=VALUE, got {bad}')
    with tempfile.TemporaryDirectory(prefix='fusion_ros_bench_') as tmp:
        bag = Path(tmp) / 'in'
        write_synthetic_bag(bag, seconds=args.seconds, fps=args.rate, size=args.size,
                            progress=False)
        node_args = ['-p', f'model:={args.model}',
                     '-p', f'publish_enhanced:={"false" if args.no_enhanced else "true"}',
                     '-p', f'device:={args.device}', '-p', f'precision:={args.precision}',
                     '-p', f'backend:={args.backend}',
                     '-p', f'threads:={0 if args.threads == "auto" else args.threads}']
        if args.weights:
            node_args += ['-p', f'weights:={args.weights}']
        for param in args.param:
            node_args += ['-p', param]
        report = run_pipeline(bag, Path(tmp) / 'out', node_args, env=isolated_ros_env())
    if report.node_returncode not in (0, None) or not report.fused:
        print(report.node_log[-3000:])
        return 1
    in_node = report.node_inference_ms
    # the reference engine on the node's device: a CPU reference beside a GPU node said nothing;
    # about 10 s of frames (30 of FastFusion's, 3 of a seed model's seconds-long ones)
    per_frame_s = (in_node or 100.0) / 1e3
    engine = bench_model(args.model, args.size, device=args.device, precision=args.precision,
                         repeat=max(3, min(30, round(10.0 / per_frame_s))),
                         warmup=1 if per_frame_s > 1.0 else 3, backend=args.backend,
                         weights=args.weights or None, enhanced=not args.no_enhanced,
                         threads=args.threads)
    summary = report.summary()
    result = {
        'model': args.model, 'size': f'{args.size[0]}x{args.size[1]}', 'rate_hz': args.rate,
        'device': engine['device'], 'precision': engine['precision_text'],
        'backend': engine['backend'], **summary,
        'node_engine_ms_median': in_node, 'engine_ms_median': engine['ms_median'],
        'ros_overhead_ms': summary['latency_p50_ms'] - (in_node or engine['ms_median']),
        'node_stages_ms': report.node_stages_ms, 'load': args.load,
        'node_threads': report.node_threads, 'engine_threads': engine['threads'],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} {result['size']} at {args.rate:g} Hz: {summary['fused_out']}/"
              f"{summary['pairs_in']} pairs fused, {summary['throughput_fps']:.1f} fps; latency "
              f"p50 {summary['latency_p50_ms']:.1f} ms, p95 {summary['latency_p95_ms']:.1f} ms; "
              f"engine in the node {in_node or float('nan'):.1f} ms (alone "
              f"{engine['ms_median']:.1f}) -> ROS overhead "
              f"{result['ros_overhead_ms']:.1f} ms; node threads {report.node_threads}"
              + (f'; {args.load} busy loop(s)' if args.load else ''))
        if args.profile:
            stages = report.node_stages_ms
            print('inside the node, p50 per frame: ' + (', '.join(
                f'{name} {ms:.1f} ms' for name, ms in stages.items()) or 'not reported'))
    return 0


def _model(args: argparse.Namespace) -> int:
    import json

    from fusion_ros.engine.bench import bench_model
    from fusion_ros.errors import UsageError

    if args.repeat < 1 or args.warmup < 0:
        raise UsageError('--repeat must be >= 1 and --warmup >= 0')
    result = bench_model(args.model, args.size, device=args.device, precision=args.precision,
                         repeat=args.repeat, warmup=args.warmup, weights=args.weights,
                         random_init=args.random_init, model_options=dict(args.options),
                         channels_last=args.channels_last, compile=args.compile,
                         model_only=args.model_only, backend=args.fusion_backend,
                         threads=args.threads)
    if args.json:
        print(json.dumps(result))
    else:
        scope = 'model only' if args.model_only else 'engine'
        print(f"{result['model']} ({scope}) {result['size']} {result['device']} "
              f"{result['backend']} {result['precision_text']}"
              f"{' compiled' if result['compiled'] else ''}: "
              f"{result['ms_median']:.1f} ms median, {result['ms_p95']:.1f} ms p95, "
              f"peak {result['peak_mem_mb']:.0f} MB, {result['params']:,d} params")
        if result['compile_error']:
            print(f"  {result['compile_error']}")
    return 0

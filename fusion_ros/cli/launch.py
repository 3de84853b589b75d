# SPDX-License-Identifier: Apache-2.0
"""Start the fusion stack where ``ros2 launch`` is not installed.

Runs the same nodes as ``ros2 launch fusion_ros fusion.launch.py`` (fusion node, detector
node) as processes with the same parameter files (config/fusion.yaml, config/detector.yaml),
optionally plays a bag into them and records what they publish. Ctrl-C/SIGTERM stop every
node cleanly; a node that crashes is reported and the command exits non-zero.

Examples:
    fusion-ros launch --bag night.bag --exit-after-bag --record night_out.bag
    fusion-ros launch --model laplacian --set detector_node:backend=onnx \\
        --set detector_node:model_path=yolov8n.onnx
    fusion-ros launch --namespace car1 --no-detector --set sync.slop=0.05
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fusion_ros.cli._args import positive_float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', type=Path, default=None,
                        help='fusion node parameter file (default: the shipped fusion.yaml)')
    parser.add_argument('--detector-config', type=Path, default=None,
                        help='detector node parameter file (default: shipped detector.yaml)')
    parser.add_argument('--model', default='', help="fusion model (default: the config's)")
    parser.add_argument('--device', default='', help='auto, cpu or cuda (default: config)')
    parser.add_argument('--namespace', default='', help='namespace of nodes and topics')
    parser.add_argument('--no-detector', action='store_true', help='fusion node only')
    parser.add_argument('--use-sim-time', action='store_true',
                        help='nodes follow /clock (play the bag with --clock elsewhere)')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='[NODE:]KEY=VALUE',
                        help='parameter override, repeatable; NODE defaults to fusion_node')
    parser.add_argument('--bag', type=Path, default=None, help='rosbag2 to play into the nodes')
    parser.add_argument('--rate', type=positive_float, default=1.0,
                        help='bag playback speed (default: %(default)s)')
    parser.add_argument('--exit-after-bag', action='store_true',
                        help='stop everything once the bag has played and outputs drained')
    parser.add_argument('--record', type=Path, default=None, metavar='OUT_BAG',
                        help="record the nodes' outputs into this bag")
    parser.add_argument('--drain', type=positive_float, default=3.0, metavar='S',
                        help='with --exit-after-bag: seconds without a new output that count '
                             "as drained, once the nodes' /diagnostics counters say every "
                             'pair is settled and every output arrived or was counted lost '
                             '(at most 60 s more; default: %(default)s)')
    parser.add_argument('--ready-timeout', type=positive_float, default=60.0, metavar='S',
                        help='seconds to wait for the nodes to subscribe (default: 60)')


def run(args: argparse.Namespace) -> int:
    from fusion_ros.errors import ConfigError, UsageError
    from fusion_ros.launch_plan import bag_transports, parse_override, plan_nodes

    if args.exit_after_bag and args.bag is None:
        raise UsageError('--exit-after-bag needs --bag')
    overrides: dict[str, dict] = {}
    if args.bag is not None:  # a compressed recording is heard through transport compressed
        overrides['fusion_node'] = bag_transports(str(args.bag), args.namespace)
    try:
        for text in args.overrides:
            node, key, value = parse_override(text)
            overrides.setdefault(node, {})[key] = value
        plans = plan_nodes(model=args.model, device=args.device, detector=not args.no_detector,
                           use_sim_time=args.use_sim_time, overrides=overrides)
    except ConfigError as err:
        raise UsageError(str(err)) from err
    _check_before_start(plans)
    configs = {'fusion_node': args.config, 'detector_node': args.detector_config}
    for path in configs.values():
        if path is not None and not path.is_file():
            raise ConfigError(f'parameter file {str(path)!r} does not exist')
    if args.record is not None and args.record.exists():
        raise ConfigError(f'{str(args.record)!r} already exists')

    from fusion_ros.ros.bringup import run_bringup

    result = run_bringup(plans, configs={k: v for k, v in configs.items() if v},
                         namespace=args.namespace, bag=args.bag, rate=args.rate,
                         exit_after_bag=args.exit_after_bag, record=args.record,
                         ready_timeout_s=args.ready_timeout, drain_s=args.drain,
                         echo=lambda line: print(line, flush=True))
    print('[bringup] received: ' + ', '.join(f'{t} {n}' for t, n in result.received.items()),
          flush=True)
    if result.lost:
        print('[bringup] lost in transport before recording (the recorder was starved): '
              + ', '.join(f'{t} {n}' for t, n in result.lost.items()), flush=True)
    print('[bringup] exit codes: ' + ', '.join(f'{k} {v}' for k, v in
                                                result.exit_codes.items()), flush=True)
    if result.interrupted and not result.crashed:
        return 130  # Ctrl-C / SIGTERM: nodes stopped (130 too when stopped while starting)
    if not result.ok:
        return 1
    if args.exit_after_bag and result.played and not any(
            n for t, n in result.received.items() if t.endswith('fused/image_raw')):
        # a replay that fused nothing (no model loaded, no pairs) must not report success
        print('error: the bag played but no fused frame came out (see the fusion node log '
              'above: model, weights, topics)', file=sys.stderr)
        return 1
    return 0


def _check_before_start(plans: list) -> None:
    """Every --set value and the model name checked against the nodes' parameter specs and
    the registry, so a typo is one error line instead of nodes that start and fuse nothing."""
    import importlib

    from fusion_ros.errors import ConfigError, UsageError
    from fusion_ros.models import list_models
    from fusion_ros.ros.params import check_overrides

    for plan in plans:
        try:
            check_overrides(importlib.import_module(plan.module).PARAMS, plan.overrides,
                            plan.name)
        except ConfigError as err:  # a --set value: the user's argument
            raise UsageError(f'--set: {err}') from err
        model = plan.overrides.get('model') if plan.name == 'fusion_node' else None
        if model is not None and model not in list_models():
            from fusion_ros.errors import ModelNotFoundError

            raise ModelNotFoundError(f'unknown model {model!r}; available: '
                                     f'{", ".join(list_models())}')

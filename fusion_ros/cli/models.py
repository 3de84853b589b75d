# SPDX-License-Identifier: Apache-2.0
"""List the registered fusion models: what each is, its size, whether trained weights ship.

Examples:
  fusion-ros models
  fusion-ros models --options piafusion
  fusion-ros models --json
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    parser.add_argument('--options', metavar='MODEL', default=None,
                        help="the model's options (--option KEY=VALUE) with their defaults")


def run(args: argparse.Namespace) -> int:
    import json

    from fusion_ros.models import build_model, list_models
    from fusion_ros.models._builder import range_text
    from fusion_ros.models._registry import (
        get_model_entrypoint,
        model_option_ranges,
        model_options,
    )
    from fusion_ros.resources import shipped_file

    if args.options is not None:
        options = model_options(args.options)  # unknown names: ModelNotFoundError
        ranges = model_option_ranges(args.options)
        if args.json:
            print(json.dumps(options, default=str))
        for key, value in ({} if args.json else options).items():
            print(f'{key}={value!r}' + (f'  ({range_text(*ranges[key])})' if key in ranges
                                         else ''))
        if not options and not args.json:
            print(f'{args.options} takes no options')
        return 0

    import torch

    from fusion_ros.engine.runtimes import resolve_backend

    rows = []
    for name in list_models():
        model = build_model(name, pretrained=False)
        shipped = shipped_file(model.default_weights) if model.default_weights else None
        weights = (str(shipped) if shipped else 'none shipped: pass --weights'
                   if model.needs_weights else 'none needed')
        doc = (get_model_entrypoint(name).__doc__ or '').strip().split('\n')[0]
        rows.append({'model': name, 'params': model.num_params(), 'description': doc,
                     'options': model_options(name),
                     'weights': weights, 'shipped_weights': shipped is not None,
                     'auto_precision': bool(model.auto_precision),
                     # what backend auto runs on this machine's CPU, and what can export
                     'auto_backend_cpu': resolve_backend('auto', model,
                                                         torch.device('cpu'))[0],
                     'exportable': not model.export_blocker})
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['model']:<12} {row['params']:>10,d} params  {row['description']}\n"
                  f"{'':<12} weights: {row['weights']}\n"
                  f"{'':<12} backend auto on this CPU: {row['auto_backend_cpu']}"
                  + ('' if row['exportable'] else ' (no ONNX export)'))
    return 0

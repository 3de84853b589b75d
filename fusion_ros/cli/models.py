# SPDX-License-Identifier: Apache-2.0
"""List the registered fusion models and their parameter counts."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')


def run(args: argparse.Namespace) -> int:
    import json

    from fusion_ros.models import build_model, list_models

    rows = [{'model': n, 'params': build_model(n).num_params()} for n in list_models()]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['model']:<16} {row['params']:>12,d} params")
    return 0

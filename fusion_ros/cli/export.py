# SPDX-License-Identifier: Apache-2.0
"""Export a fusion network for a deployment runtime: ONNX (ONNX Runtime, TensorRT) or
OpenVINO IR, with named inputs and outputs and the model's facts in the file.

Inputs ``thermal`` and ``visible_y`` (B, 1, H, W) in [0, 1], the luminance of the visible
frame in the model's colour transform; outputs ``fused`` and, where the model has them,
``enhanced`` and ``day_probability``. Height and width are dynamic unless --size fixes
them; pad frames to the model's size multiple (in the file's metadata) before running it.
The engine does all of this itself with ``--backend openvino|onnxruntime``.

Examples:
  fusion-ros export --model piafusion --format openvino --out exported/
  fusion-ros export --model didfuse --weights didfuse_release/ --size 640x512 --out exported/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fusion_ros.cli._args import model_option, size
from fusion_ros.defaults import DEFAULT_MODEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help='registered model name (default: %(default)s)')
    parser.add_argument('--weights', default=None, metavar='PATH',
                        help="checkpoint or release folder (default: the model's shipped file)")
    parser.add_argument('--option', dest='options', action='append', type=model_option,
                        default=[], metavar='KEY=VALUE', help='model option, repeatable')
    parser.add_argument('--format', choices=('onnx', 'openvino'), default='onnx',
                        help='onnx (.onnx) or openvino (IR .xml + .bin) (default: onnx)')
    parser.add_argument('--size', type=size, default=None, metavar='WxH',
                        help='fix the input size (default: dynamic height and width)')
    parser.add_argument('--no-enhanced', action='store_true',
                        help="leave out the model's enhancement head")
    parser.add_argument('--random-init', action='store_true',
                        help='export a model that needs weights untrained (for speed tests)')
    parser.add_argument('--out', type=Path, required=True, help='output folder')


def run(args: argparse.Namespace) -> int:
    import shutil

    from fusion_ros.cli._args import check_output_folder
    from fusion_ros.engine import runtimes
    from fusion_ros.errors import ConfigError, WeightsError
    from fusion_ros.models import build_model

    check_output_folder(args.out)
    model = build_model(args.model, weights=args.weights, pretrained=not args.random_init,
                        **dict(args.options))
    if model.needs_weights and model.weights_source is None and not args.random_init:
        raise WeightsError(f'model {args.model!r} needs trained weights: pass --weights PATH '
                           '(or --random-init for an untrained network)')
    if args.format == 'openvino' and (missing := runtimes.runtime_missing('openvino')):
        raise ConfigError(missing)
    if args.size is not None:
        m = model.size_multiple
        w, h = args.size
        if w % m or h % m:
            raise ConfigError(f'{args.model} takes sizes in multiples of {m}; '
                              f'{w}x{h} is not (pad it to {w + (-w) % m}x{h + (-h) % m})')
    cached, outputs, _ = runtimes.onnx_for(model, args.model, enhanced=not args.no_enhanced,
                                           options=dict(args.options), size=args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / args.model
    if args.format == 'onnx':
        target = stem.with_suffix('.onnx')
        if args.size is None:
            shutil.copyfile(cached, target)
        else:
            runtimes.fix_onnx_size(cached, target, args.size)
    else:
        target = stem.with_suffix('.xml')
        runtimes.save_openvino(cached, target, args.size)
    print(f'{args.model} -> {target} (outputs: {", ".join(outputs)}; size: '
          f'{"x".join(map(str, args.size)) if args.size else "dynamic"}, multiple of '
          f'{model.size_multiple})')
    return 0

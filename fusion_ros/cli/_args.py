# SPDX-License-Identifier: Apache-2.0
"""Argument types shared by subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fusion_ros.defaults import BACKENDS, DEFAULT_BACKEND, DEFAULT_PRECISION, PRECISIONS


def size(text: str) -> tuple[int, int]:
    """``640x512`` -> (640, 512)."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must look like 640x512, got {text!r}') from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f'size must be positive, got {text!r}')
    return w, h


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be > 0, got {text!r}')
    return value


def threads(text: str) -> int | str:
    """``auto`` or a thread count >= 1 (``fusion_ros.threads``)."""
    from fusion_ros.errors import ConfigError
    from fusion_ros.threads import parse_threads

    try:
        return parse_threads(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--threads', type=threads, default='auto', metavar='N',
                        help='CPU threads for the model: auto (every CPU this process may '
                             'use, fewer while other processes keep them busy) or a number '
                             '(default: auto)')


def model_option(text: str) -> tuple[str, object]:
    """``key=value`` with a YAML-typed value (``flavour=port``, ``strip_rows=32``)."""
    import yaml

    key, sep, value = text.partition('=')
    if not sep or not key:
        raise argparse.ArgumentTypeError(f'model option must look like key=value, got {text!r}')
    return key.strip(), yaml.safe_load(value)


def add_model_arguments(parser: argparse.ArgumentParser, default_model: str | None,
                        backend_flag: str = '--backend') -> None:
    """--model/--weights/--weights-format/--option/--device/--precision/--backend/--compile/
    --random-init. ``backend_flag`` names the backend option where ``--backend`` means
    something else (eval-detection's detector)."""
    parser.add_argument('--model', default=default_model,
                        help='registered model name, see "fusion-ros models" '
                             '(default: %(default)s)')
    parser.add_argument('--weights', default=None, metavar='PATH',
                        help='checkpoint file, or a folder with a release (DIDFuse: the '
                             'folder with Encoder_/Decoder_weight_IJCAI.pkl)')
    parser.add_argument('--weights-format', default=None, metavar='FORMAT',
                        help='native, didfuse-release, piafusion-port or dfvo-official '
                             '(default: detected from the file)')
    parser.add_argument('--option', dest='options', action='append', type=model_option,
                        default=[], metavar='KEY=VALUE',
                        help='model option, repeatable (e.g. flavour=port, variant=full)')
    parser.add_argument('--device', default='auto',
                        help='auto (cuda when available), cpu or cuda[:N] (default: auto)')
    parser.add_argument('--precision', default=DEFAULT_PRECISION, choices=PRECISIONS,
                        help='inference precision: auto picks bf16/fp16 with channels_last '
                             'where the hardware computes them natively and the model gains, '
                             'else fp32; fp16 needs CUDA (default: auto)')
    parser.add_argument(backend_flag, dest='fusion_backend', default=DEFAULT_BACKEND,
                        choices=BACKENDS,
                        help='what runs the network: torch, or the network exported to ONNX '
                             'and run by openvino or onnxruntime (cached after the first '
                             'run); auto: openvino for the heavy models (PIAFusion, DIDFuse) '
                             'on CPUs, else torch (default: %(default)s)')
    parser.add_argument('--compile', action='store_true',
                        help='run the network through torch.compile (compiled during '
                             'warm-up; falls back to eager with the reason)')
    parser.add_argument('--random-init', action='store_true',
                        help='run a model that needs weights untrained (smoke tests, speed)')
    add_threads_argument(parser)


def engine_kwargs(args: argparse.Namespace, *, enhanced: bool) -> dict[str, Any]:
    """The FusionEngine keyword arguments the model arguments of
    :func:`add_model_arguments` describe (plain values: they travel to other processes)."""
    return dict(model=args.model, weights=args.weights, weights_format=args.weights_format,
                device=args.device, precision=args.precision, model_options=dict(args.options),
                random_init=args.random_init, compile=args.compile, enhanced=enhanced,
                backend=args.fusion_backend, threads=args.threads)


def engine_from_args(args: argparse.Namespace, *, enhanced: bool) -> Any:
    """The FusionEngine the model arguments of :func:`add_model_arguments` describe."""
    from fusion_ros.engine import FusionEngine

    return FusionEngine(**engine_kwargs(args, enhanced=enhanced))


def check_output_folder(path: Path, option: str = '--out') -> None:
    """Refuse an output folder before any work: a file of that name, or a place this user
    cannot write (the nearest existing parent decides).

    Raises:
        UsageError: ``path`` is a file.
        ConfigError: it cannot be created or written.
    """
    import os

    from fusion_ros.errors import ConfigError, UsageError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f'{option} {str(path)!r} is a file, not a folder')
    existing = next((p for p in (path, *path.absolute().parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f'{option} {str(path)!r}: cannot write into '
                          f'{str(existing or path)!r} (permission denied)')

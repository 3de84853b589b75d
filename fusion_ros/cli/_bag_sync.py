# SPDX-License-Identifier: Apache-2.0
"""How ``bag fuse`` and ``bag fuse-many`` pair frames and switch day/night: the node's
synchronizer settings from its defaults, its parameters file and the command line."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from fusion_ros.defaults import SYNC_QUEUE_SIZE, SYNC_SLOP_S
from fusion_ros.errors import FusionError

__all__ = ['add_sync_options', 'stream_settings']


def add_sync_options(p: argparse.ArgumentParser) -> None:
    p.add_argument('--thermal-topic', default=None,
                   help='thermal image topic (default: /thermal/image_raw[/compressed])')
    p.add_argument('--rgb-topic', default=None,
                   help='RGB image topic (default: /rgb/image_raw[/compressed])')
    p.add_argument('--slop', type=float, default=None,
                   help=f'synchronizer slop in seconds, as the node (default: {SYNC_SLOP_S})')
    p.add_argument('--queue-size', type=int, default=None,
                   help=f'synchronizer queue size, as the node (default: {SYNC_QUEUE_SIZE})')


def stream_settings(args: argparse.Namespace) -> Any:
    """Pairing and day/night of ``bag fuse``: the node's defaults, its parameters file,
    then --slop / --queue-size where given."""
    from fusion_ros.errors import UsageError
    from fusion_ros.stream.pairing import StreamSettings

    flags = {'slop_s': args.slop, 'queue_size': args.queue_size}
    try:
        settings = StreamSettings()
        if args.params_file is not None:
            settings = StreamSettings.from_params_file(args.params_file)
        return replace(settings, **{k: v for k, v in flags.items() if v is not None}).check()
    except FusionError as err:
        raise UsageError(str(err)) from err

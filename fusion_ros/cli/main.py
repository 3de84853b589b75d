# SPDX-License-Identifier: Apache-2.0
"""``fusion-ros``: thermal + RGB fusion tools. Each subcommand has its own ``--help``."""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import threading

from fusion_ros import __version__
from fusion_ros.errors import FusionError

# subcommand -> module in fusion_ros.cli (imported lazily so --help stays instant)
SUBCOMMANDS = {
    'demo': 'demo',
    'synth': 'synth',
    'models': 'models',
    'eval': 'eval',
    'fuse': 'fuse',
    'illumination': 'illumination',
    'register': 'register',
    'bench': 'bench',
    'train': 'train',
    'bag': 'bag',
    'launch': 'launch',
    'eval-detection': 'eval_detection',
}


def plain(text: str) -> str:
    """Docstring text for a terminal: reStructuredText literals (````x````) shown plainly."""
    return re.sub(r'``(.+?)``', r'\1', text)


def summary(doc: str) -> str:
    """The first paragraph of a docstring as one line (the subcommand list shows it)."""
    return ' '.join(plain(doc).strip().split('\n\n')[0].split())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='fusion-ros',
        description=plain(__doc__.split('\n')[0].split(': ', 1)[1]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Run "fusion-ros demo" for the day-to-night demonstration.',
    )
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(f'fusion_ros.cli.{module_name}')
        doc = (module.__doc__ or '').strip()
        cmd = sub.add_parser(name, help=summary(doc), description=plain(doc),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.run)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _terminate_like_interrupt() -> None:
    """SIGTERM (``kill``, systemd, docker stop) unwinds like Ctrl-C: output bags and run
    folders are closed by their ``with`` blocks instead of the process vanishing mid-write.
    The ROS tools install handlers of their own over this one."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fusion-ros`` console script."""
    args = build_parser().parse_args(argv)
    _terminate_like_interrupt()
    try:
        return int(args.func(args) or 0)
    except FusionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())

# SPDX-License-Identifier: Apache-2.0
"""``fusion-ros``: thermal + RGB fusion tools. Each subcommand has its own ``--help``."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import threading

from fusion_ros import __version__
from fusion_ros.errors import FusionError, ModelNotFoundError, UsageError
from fusion_ros.interrupt import forget_caught_interrupt
from fusion_ros.memory import keep_freed_memory

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
    'export': 'export',
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
    parser.add_argument('--debug', action='store_true',
                        help='show the Python traceback of an error (also FUSION_ROS_DEBUG=1)')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(f'fusion_ros.cli.{module_name}')
        doc = (module.__doc__ or '').strip()
        cmd = sub.add_parser(name, help=summary(doc), description=plain(doc),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.run)
    return parser


class _StopOnce:
    """The first SIGINT or SIGTERM unwinds like Ctrl-C; later ones are ignored, so a signal
    repeated while ``with`` blocks close their outputs cannot cut the closing short (a
    loaded test run saw a bag left without metadata and an exit by SIGINT after the CLI had
    already printed 'interrupted')."""

    def __init__(self) -> None:
        self.stopping = False

    def __call__(self, signum: int, frame: object) -> None:
        if not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt


def _terminate_like_interrupt() -> None:
    """SIGINT and SIGTERM (``kill``, systemd, docker stop) unwind like Ctrl-C, once: output
    bags and run folders are closed by their ``with`` blocks instead of the process
    vanishing mid-write. The ROS tools install handlers of their own over this one."""
    if threading.current_thread() is threading.main_thread():
        stop = _StopOnce()
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)


def error_line(err: BaseException) -> tuple[str, int]:
    """The one line a user sees for an error, and the exit code: 2 for a wrong argument
    (as argparse), 1 for a failure."""
    if isinstance(err, (UsageError, ModelNotFoundError)):
        return f'error: {err}', 2
    if isinstance(err, FusionError):
        return f'error: {err}', 1
    if isinstance(err, OSError):  # the file named, the reason in words
        where = f'{err.filename}: ' if getattr(err, 'filename', None) else ''
        return f'error: {where}{err.strerror or err}', 1
    if isinstance(err, MemoryError):
        return ('error: out of memory (try a smaller --size or batch, or fewer --jobs)', 1)
    text = str(err).strip().splitlines()
    # cv2.error: "OpenCV(4.x) /path/file.cpp:123: error: (-215:Assertion failed) ... in func"
    what = text[-1] if text else type(err).__name__
    return f'error: {type(err).__module__.split(".")[0]} {type(err).__name__}: {what}', 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fusion-ros`` console script."""
    keep_freed_memory()  # before any tensor: each frame or step reuses the last one's pages
    try:
        args = build_parser().parse_args(argv)  # imports every subcommand: takes a moment
    except KeyboardInterrupt:
        forget_caught_interrupt()
        print('interrupted', file=sys.stderr)
        return 130
    _terminate_like_interrupt()
    debug = args.debug or os.environ.get('FUSION_ROS_DEBUG', '') not in ('', '0')
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        forget_caught_interrupt()
        print('interrupted', file=sys.stderr)
        return 130
    except (FusionError, OSError, MemoryError, ValueError, cv2_error()) as err:
        if debug:
            raise
        line, code = error_line(err)
        print(line, file=sys.stderr)
        return code


def cv2_error() -> type[BaseException]:
    """OpenCV's exception class when OpenCV is importable (it always is with fusion_ros),
    without importing it at start-up for commands that never touch it."""
    cv2 = sys.modules.get('cv2')
    return cv2.error if cv2 is not None else FusionError


if __name__ == '__main__':
    sys.exit(main())

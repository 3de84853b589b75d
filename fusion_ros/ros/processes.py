# SPDX-License-Identifier: Apache-2.0
"""Node processes started, watched and stopped one way, for the bringup (``fusion-ros
launch``) and the replay pipeline (``fusion-ros demo``, ``bench pipeline``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from fusion_ros.load import PARENT_PID_ENV, die_with_parent

__all__ = ['NodeProcess', 'node_command']


def node_command(module: str, ros_args: Sequence[str]) -> list[str]:
    """``python -m MODULE ROS_ARGS``: a node run from this interpreter, as setup.py's
    console script would run it."""
    return [sys.executable, '-m', module, *ros_args]


class NodeProcess:
    """One node as a child process in a session of its own (a terminal's Ctrl-C reaches the
    parent once, and the parent stops the nodes in order). Its output is kept in
    :attr:`lines` and passed to ``echo`` line by line, if given, with a ``[name]`` prefix.
    """

    def __init__(self, name: str, cmd: Sequence[str], env: dict[str, str],
                 echo: Callable[[str], None] | None = None) -> None:
        self.name = name
        env = {**env, PARENT_PID_ENV: str(os.getpid())}  # see fusion_ros.load.parent_gone
        self.proc = subprocess.Popen(list(cmd), env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=True, preexec_fn=die_with_parent)
        self.lines: list[str] = []
        self._echo = echo
        self._interrupted = False
        self._say(f'[bringup] started {name} (pid {self.proc.pid})')
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._say(f'[{self.name}] {line.rstrip()}')

    @property
    def output(self) -> str:
        """Everything the node printed so far."""
        return ''.join(self.lines)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def running(self) -> bool:
        return self.proc.poll() is None

    def interrupt(self) -> None:
        """Send SIGTERM (a running node shuts down cleanly: rclpy handles it as SIGINT);
        :meth:`stop` then waits for it. SIGTERM, not SIGINT: a node still starting has no
        Python handler for it yet, so it ends at once instead of printing a
        KeyboardInterrupt traceback from whatever it was importing."""
        if self.proc.poll() is None and not self._interrupted:
            self.proc.send_signal(signal.SIGTERM)
            self._interrupted = True  # a second signal would break the node's clean shutdown

    def stop(self, timeout_s: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit code (negative: signal)."""
        self.interrupt()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._say(f'[bringup] {self.name} ignored SIGTERM for {timeout_s:.0f} s: '
                          'killed')
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2.0)
        return self.proc.returncode

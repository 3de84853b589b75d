# SPDX-License-Identifier: Apache-2.0
"""A ROS session for command-line tools: one node spinning in the background, and a stop
flag that SIGINT and SIGTERM set (so tools finish their work and close bags cleanly
instead of dying with a traceback)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from fusion_ros.resources import share_file

__all__ = ['apply_transport_defaults', 'ros_session']


def apply_transport_defaults(env: dict[str, str] | os._Environ = os.environ) -> None:
    """Fast DDS with large shared-memory segments unless the user chose otherwise: the
    default transports lose most best-effort megabyte frames on a busy CPU."""
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    env.setdefault('FASTDDS_DEFAULT_PROFILES_FILE',
                   str(share_file('config/fastdds_large_images.xml')))


@contextmanager
def ros_session(node_name: str, args: list[str] | None = None
                ) -> Iterator[tuple[Node, threading.Event]]:
    """Yield ``(node, stop)``; ``stop`` is set by SIGINT/SIGTERM. The node spins in a daemon
    thread and everything is shut down on exit."""
    apply_transport_defaults()
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    context = rclpy.Context()
    rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = Node(node_name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name='ros_spin', daemon=True)
    spinner.start()
    try:
        yield node, stop
    finally:
        executor.shutdown(timeout_sec=1.0)
        # a spin thread still inside rcl when the process exits aborts it ("terminate called
        # without an active exception"): join it before tearing the node down
        spinner.join(timeout=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

# SPDX-License-Identifier: Apache-2.0
"""What the fusion and detector nodes share: the worker loop that never dies on a bad
message, the guard that keeps any exception inside an rclpy callback, throttled error
logging, outgoing Image messages and diagnostics statuses."""

from __future__ import annotations

import array as pyarray
import contextlib
import dataclasses
import functools
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from fusion_ros.errors import FusionError
from fusion_ros.interrupt import forget_caught_interrupt
from fusion_ros.io.image_msg import array_to_fields
from fusion_ros.load import parent_gone
from fusion_ros.memory import keep_freed_memory
from fusion_ros.stream.slot import LatestSlot
from fusion_ros.topics import compressed

__all__ = ['ThrottledLog', 'TransportLoss', 'callback_errors_text', 'diagnostic_array', 'guarded',
           'image_message', 'init_node_process', 'jpeg_message', 'lost_text', 'serve_slot',
           'NodeExecutor',
           'stopping_quietly']

T = TypeVar('T')
S = TypeVar('S')


def image_message(array: np.ndarray, header: Any) -> Image:
    """An rgb8 (colour) or mono8 Image of ``array`` carrying ``header``."""
    fields = array_to_fields(array, 'rgb8' if array.ndim == 3 else 'mono8')
    msg = Image(header=header, height=fields.height, width=fields.width,
                encoding=fields.encoding, is_bigendian=fields.is_bigendian, step=fields.step)
    # one memcpy from the contiguous pixels into the array('B') rclpy keeps: assigning
    # bytes makes rclpy build that array element by element (2.3 vs 0.14 ms at 640x512)
    data = pyarray.array('B')
    data.frombytes(fields.data)
    msg.data = data
    return msg


def image_subscription(node: Node, topic: str, transport: str, qos: Any,
                       callback: Callable[..., None]) -> Any:
    """Subscribe to ``topic`` as image_transport would: ``raw`` (sensor_msgs/Image) or
    ``compressed`` (CompressedImage on ``topic/compressed``)."""
    if transport == 'compressed':
        return node.create_subscription(CompressedImage, compressed(topic), callback, qos)
    return node.create_subscription(Image, topic, callback, qos)


def jpeg_message(array: np.ndarray, header: Any, quality: int = 80) -> CompressedImage:
    """A JPEG CompressedImage of a grey or RGB ``array`` (image_transport's compressed
    format string), carrying ``header``."""
    import cv2

    colour = array.ndim == 3
    pixels = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if colour else array
    ok, buf = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise FusionError(f'JPEG encoding of a {array.shape} image failed')
    encoding = 'rgb8' if colour else 'mono8'
    return CompressedImage(header=header, format=f'{encoding}; jpeg compressed '
                           f'{"bgr8" if colour else "mono8"}', data=buf.tobytes())


class ThrottledLog:
    """Warn once per cause, then at most every ``every_s`` seconds per cause."""

    def __init__(self, node: Node, every_s: float = 10.0) -> None:
        self.node, self.every_s = node, every_s
        self._last: dict[str, float] = {}

    def warn(self, cause: str, text: str) -> None:
        now = time.monotonic()
        last = self._last.get(cause)
        if last is None or now - last >= self.every_s:
            self._last[cause] = now
            self.node.get_logger().warning(text)


class TransportLoss:
    """Messages the middleware dropped before a callback saw them, from the gaps in each
    publisher's sequence numbers (rclpy's MessageInfo).

    A keep-last reader queue overwrites what a starved executor did not take in time; reliable
    delivery does not prevent that and nothing else would count it. A publisher that restarts
    (its numbers go back) starts afresh; each publisher is tracked apart.

    Args:
        from_start: also count what each publisher sent before the first message seen (its
            numbers start at 1). Right for a subscriber that was up before every publisher
            (a test's listener); a node started after its sources would count their past.

    Attributes:
        lost: messages missed so far.
    """

    MAX_PUBLISHERS = 64

    def __init__(self, from_start: bool = False) -> None:
        self.lost = 0
        self.from_start = from_start
        self._last: OrderedDict[bytes, int] = OrderedDict()

    def see(self, info: Any) -> int:
        """Record one received message's ``info``; return how many were missed before it."""
        seq = info.get('publication_sequence_number') if isinstance(info, dict) else None
        gid = info.get('publisher_gid') if isinstance(info, dict) else None
        if not isinstance(seq, int) or not isinstance(gid, dict):
            return 0  # an rmw without sequence numbers: nothing to count
        key = bytes(gid.get('data', b''))
        last = self._last.pop(key, None)
        self._last[key] = seq
        if len(self._last) > self.MAX_PUBLISHERS:
            self._last.popitem(last=False)
        if last is None:
            last = 0 if self.from_start else seq - 1
        missed = seq - last - 1 if seq > last else 0
        self.lost += missed
        return missed

    def counting(self, callback: Callable[[Any], None],
                 on_loss: Callable[[int], None] | None = None) -> Callable[[Any, Any], None]:
        """``callback(msg)`` as a subscription callback taking ``(msg, info)`` (rclpy then
        passes the MessageInfo), counting losses first; ``on_loss(missed)`` when some were."""
        def receive(msg: Any, info: Any) -> None:
            missed = self.see(info)
            if missed and on_loss is not None:
                on_loss(missed)
            callback(msg)
        return receive


def guarded(kind: str, fallback: Callable[[BaseException], Any] | None = None
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a node method that rclpy calls (subscription, timer, parameter or lifecycle
    callback) so that no exception escapes it: an exception escaping a callback ends
    ``rclpy.spin`` and with it the node.

    The failure is counted by cause in the node's ``callback_errors`` Counter (published in
    /diagnostics) and logged once per cause through its ``_log`` (:class:`ThrottledLog`);
    the callback then returns ``fallback(err)`` (None without one).
    """
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as err:  # noqa: BLE001 - nothing may escape into rclpy
                cause = f'{kind} {method.__name__}: {type(err).__name__}'
                self.callback_errors[cause] += 1
                self._log.warn(cause, f'{kind} callback {method.__name__} failed '
                               f'({self.callback_errors[cause]}x): {err!r}; node keeps running')
                return None if fallback is None else fallback(err)
        return wrapper
    return decorate


class NodeExecutor(SingleThreadedExecutor):
    """rclpy's single-threaded executor, safe to lose half-built.

    A Ctrl-C or SIGTERM landing inside ``Executor.__init__`` (a loaded machine stretches it)
    left an object without ``_sigint_gc``, and its ``__del__`` printed an AttributeError
    traceback as the node exited; rclpy's global executor is also rebuilt lazily on a
    context already shut down (the same traceback). The class attribute below is what
    ``__del__`` finds on a half-built one.
    """

    _sigint_gc = None


def init_node_process(args: list[str] | None) -> NodeExecutor:
    """``rclpy.init`` for a node's own process, and the executor its node spins in (built at
    once, not lazily at the first spin: see :class:`NodeExecutor`)."""
    rclpy.init(args=args)
    return NodeExecutor()


@contextlib.contextmanager
def stopping_quietly() -> Iterator[None]:
    """Treat Ctrl-C, SIGTERM or ``rclpy.shutdown`` inside the block as a normal stop: a
    node's main builds and spins its node inside it.

    rclpy's signal handler shuts the default context down from whatever point the process is
    at: while a node is being built (``rclpy.create_node``, a publisher, a lifecycle
    transition) or while the executor builds its next wait set, rclpy then raises an
    ``RCLError`` ("the given context is not valid") instead of ``ExternalShutdownException``.
    Once the context is shut down, any error is that stop, not a failure; while it is still
    up, every error propagates.
    """
    try:
        yield
    except (KeyboardInterrupt, ExternalShutdownException):
        forget_caught_interrupt()  # exit 0 as asked, not by SIGINT
    except Exception:
        if rclpy.ok():
            raise


PARENT_CHECK_S = 1.0


def _stop_if_parent_gone() -> None:
    if parent_gone():
        rclpy.try_shutdown()  # the spin ends as after a SIGTERM


def run_node(make_node: Callable[[], Node], args: list[str] | None, *,
             start: Callable[[Any], int] = lambda node: 0,
             stop: Callable[[Any], None] = lambda node: None) -> int:
    """A node process's main: rclpy up, the node built, ``start(node)`` (an exit code: not
    0 ends the process without spinning), spun until SIGINT/SIGTERM, then ``stop(node)``,
    the node destroyed and rclpy shut down, quietly wherever the signal lands
    (:func:`stopping_quietly`). A node started by a bringup also ends once that has died
    (:func:`fusion_ros.load.parent_gone`, checked every second)."""
    node = executor = None
    code = 0
    keep_freed_memory()  # each frame reuses the last one's buffers (fusion_ros.memory)
    try:
        with stopping_quietly():  # a Ctrl-C may land while rclpy starts or the node is built
            executor = init_node_process(args)
            node = make_node()
            code = start(node)
            # a bringup that died while this node started: its SIGTERM may have been missed
            if code == 0 and not parent_gone():
                node.create_timer(PARENT_CHECK_S, _stop_if_parent_gone)  # or that dies later
                rclpy.spin(node, executor)
    finally:
        if node is not None:
            stop(node)
            node.destroy_node()
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown()
    return code


def callback_errors_text(counts: Counter[str]) -> str:
    """``cause=N, ...`` for /diagnostics ('' when none)."""
    return ', '.join(f'{cause}={n}' for cause, n in sorted(counts.items()))


def serve_slot(slot: LatestSlot[T], handle: Callable[[T], None],
               on_error: Callable[[str, str], None], what: str) -> None:
    """Take items from ``slot`` until it closes and ``handle`` each; any error is passed to
    ``on_error(cause, text)`` and the loop goes on: a bad message never kills a node."""
    while (item := slot.take()) is not None:
        try:
            handle(item)
        except FusionError as err:
            on_error(type(err).__name__ + str(err)[:40], f'{what} skipped: {err}')
        except Exception as err:  # noqa: BLE001 - a bad message must never kill the node
            on_error(type(err).__name__, f'unexpected error, {what} skipped: {err!r}')


class ReportWindow(Generic[S]):
    """The counters as the last diagnostics report saw them, for what changed since then
    and per-second rates (both nodes report once a second).

    Args:
        empty: makes all-zero counters (the node's stats dataclass): the first report after
            (re)activation compares with them.
    """

    def __init__(self, empty: Callable[[], S]) -> None:
        self._empty = empty
        self.restart()

    def restart(self) -> None:
        """Start over (activation)."""
        self._previous, self._at = self._empty(), time.monotonic()

    def advance(self, stats: S) -> tuple[S, float]:
        """Snapshot ``stats`` now; return the previous snapshot and the seconds since it."""
        now = time.monotonic()
        previous, span_s = self._previous, max(now - self._at, 1e-3)
        self._previous, self._at = dataclasses.replace(stats), now
        return previous, span_s


def lost_text(what: str, missed: int, total: int, depth_param: str, depth: int) -> str:
    """The warning for messages a node's queue lost (see :class:`TransportLoss`)."""
    return (f'{missed} {what}(s) lost before the node took them ({total} so far): its queue '
            f'({depth_param} {depth}) overflowed, the node is starved or the depth too small')


def per_second(now: float, before: float, span_s: float) -> str:
    """A counter's rate for /diagnostics: ``'12.5'`` (one decimal)."""
    return f'{(now - before) / span_s:.1f}'


def diagnostic_array(node: Node, level: bytes, name: str, message: str, hardware_id: str,
                     values: dict[str, str]) -> DiagnosticArray:
    """A one-status DiagnosticArray stamped with the node's clock."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = node.get_clock().now().to_msg()
    return array

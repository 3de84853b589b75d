# SPDX-License-Identifier: Apache-2.0
"""WarmStart and EngineWarmer without a ROS graph: the order warm -> subscribe -> serve,
cancellation, and a thread that fails (subscribing as Ctrl-C ends the context) reporting
its error instead of printing a traceback."""

from __future__ import annotations

import threading

import pytest

from fusion_ros.ros.warm_start import EngineWarmer, WarmStart


def test_warm_then_subscribe_then_serve():
    order = []
    start = WarmStart(lambda: order.append('warm'), lambda: order.append('subscribe'),
                      lambda: order.append('serve'), 'worker').start()
    start.join(10)
    assert order == ['warm', 'subscribe', 'serve'] and not start.warming


def test_cancelled_while_warming_never_subscribes():
    release, order = threading.Event(), []
    start = WarmStart(lambda: release.wait(10), lambda: order.append('subscribe'),
                      lambda: order.append('serve'), 'worker').start()
    assert start.warming
    start.cancel()
    release.set()
    start.join(10)
    assert order == [] and not start.thread.is_alive()


@pytest.mark.parametrize('failing', ['when_warm', 'serve'])
def test_a_failing_thread_reports_its_error_without_a_traceback(failing, monkeypatch):
    tracebacks, errors = [], []
    monkeypatch.setattr(threading, 'excepthook', tracebacks.append)

    def fail():
        raise RuntimeError('the context is not valid')

    steps = {'when_warm': lambda: None, 'serve': lambda: None, failing: fail}
    start = WarmStart(lambda: None, steps['when_warm'], steps['serve'], 'worker',
                      errors.append).start()
    start.join(10)
    assert [str(e) for e in errors] == ['the context is not valid'] and tracebacks == []


def test_each_engine_is_warmed_once_at_the_last_frame_size():
    warmed, problems = [], []

    class Engine:
        def __init__(self, fails=False):
            self.fails = fails

        def warmup(self, width, height):
            warmed.append((self, width, height))
            if self.fails:
                raise RuntimeError('no memory')

    warmer, first, second = EngineWarmer(problems.append), Engine(), Engine(fails=True)
    warmer.warm(first)
    warmer.warm(first)
    warmer.before_frame(first, 320, 256)  # the same engine: not again
    warmer.before_frame(second, 320, 256)  # swapped in: warmed at the frame's size
    warmer.warm(None)
    assert warmed == [(first, 640, 512), (second, 320, 256)]
    assert problems == ["warm-up at 320x256 failed: RuntimeError('no memory')"]
    warmer.forget()
    warmer.warm(second)
    assert len(warmed) == 3

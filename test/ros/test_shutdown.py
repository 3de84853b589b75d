# SPDX-License-Identifier: Apache-2.0
"""SIGTERM (how a launch stops its nodes) shuts the rclpy context down from a signal handler,
at whatever point the executor is. Landing while the executor builds its next wait set makes
rclpy raise RCLError instead of ExternalShutdownException: a node then exited 1 with a
traceback after a clean run (seen in CI). The helper every node spins with must treat that as
the normal stop it is, and still let real errors through. The same holds while a node is
still being built: a Ctrl-C 3 s into a launch on a slow machine landed inside the fusion
node's constructor and printed a traceback (CI, stop 30)."""

from __future__ import annotations

import types

import pytest

rclpy = pytest.importorskip('rclpy')
executors = pytest.importorskip('rclpy.executors')

from rclpy.node import Node  # noqa: E402

from fusion_ros.ros.node_support import stopping_quietly  # noqa: E402


def spin_until_shutdown(node) -> None:
    """How the node mains spin."""
    with stopping_quietly():
        rclpy.spin(node)

pytestmark = pytest.mark.ros


@pytest.fixture
def node():
    rclpy.init()
    made = Node('shutdown_race')
    made.create_timer(0.001, lambda: None)
    yield made
    made.destroy_node()
    rclpy.try_shutdown()


@pytest.fixture
def signal_lands_while_building_the_wait_set(monkeypatch, node):
    """The real executor and the real rcl call, with the context shut down right before the
    wait set is made: the race window, hit every time."""
    real = executors._rclpy
    calls = []

    def wait_set(*args):
        calls.append(1)
        if len(calls) == 3:  # a couple of ordinary turns first
            node.context.shutdown()
        return real.WaitSet(*args)

    proxy = types.SimpleNamespace(**{name: getattr(real, name) for name in dir(real)
                                     if not name.startswith('__')})
    proxy.WaitSet = wait_set
    monkeypatch.setattr(executors, '_rclpy', proxy)
    return calls


def test_plain_spin_fails_in_the_race_window(node, signal_lands_while_building_the_wait_set):
    # what the nodes did before: proves the fixture opens the window the helper must close
    with pytest.raises(Exception, match='context is not valid'):
        rclpy.spin(node)


def test_spin_until_shutdown_returns_normally_in_the_race_window(
        node, signal_lands_while_building_the_wait_set):
    spin_until_shutdown(node)
    assert len(signal_lands_while_building_the_wait_set) == 3
    assert not node.context.ok()


def test_spin_until_shutdown_still_raises_real_errors(node):
    def broken() -> None:
        raise ValueError('a callback bug')

    node.create_timer(0.001, broken)
    with pytest.raises(ValueError, match='a callback bug'):
        spin_until_shutdown(node)
    assert node.context.ok()


def _shut_down_then(build):
    """``build`` wrapped so that the context is shut down first, as rclpy's signal handler does
    when Ctrl-C lands while a node is still being built (seen in CI: a launch interrupted
    3 s after start, while the fusion node was still importing its model)."""
    def wrapper(*args, **kwargs):
        rclpy.shutdown()
        return build(*args, **kwargs)
    return wrapper


@pytest.mark.parametrize('module, where', [('fusion_node', 'FusionNode'),
                                           ('fusion_node', 'FusionNode.trigger_configure'),
                                           ('detector_node', 'DetectorNode')])
def test_a_stop_while_the_node_is_built_is_a_normal_exit(monkeypatch, capsys, module, where):
    import importlib

    mod = importlib.import_module(f'fusion_ros.ros.{module}')
    owner_name, _, attr = where.rpartition('.')
    owner = getattr(mod, owner_name) if owner_name else mod
    monkeypatch.setattr(owner, attr, _shut_down_then(getattr(owner, attr)))
    assert mod.main([]) == 0  # before: RCLError "the given context is not valid" escaped main
    assert not rclpy.ok()


def test_a_node_that_fails_to_build_while_running_still_fails(monkeypatch):
    from fusion_ros.ros import fusion_node

    def broken(*args, **kwargs):
        raise ValueError('a constructor bug')

    monkeypatch.setattr(fusion_node, 'FusionNode', broken)
    with pytest.raises(ValueError, match='a constructor bug'):
        fusion_node.main([])
    assert not rclpy.ok()  # main's finally still shut its context down


@pytest.mark.parametrize('module', ['fusion_node', 'detector_node'])
def test_a_ctrl_c_inside_the_executors_construction_is_quiet(monkeypatch, module):
    """Under load a Ctrl-C landed inside ``Executor.__init__``; the half-built executor's
    ``__del__`` then printed an AttributeError traceback (``_sigint_gc``) as the node
    exited. Forced here: the interrupt raised at the same point of the constructor."""
    import gc
    import importlib
    import sys

    mod = importlib.import_module(f'fusion_ros.ros.{module}')
    lost: list[str] = []
    monkeypatch.setattr(sys, 'unraisablehook', lambda u: lost.append(repr(u.exc_value)))

    def interrupted_clock(*args, **kwargs):  # built just before _sigint_gc is assigned
        raise KeyboardInterrupt

    monkeypatch.setattr(executors, 'Clock', interrupted_clock)
    assert mod.main([]) == 0
    gc.collect()
    assert lost == []
    assert not rclpy.ok()


def test_rclpys_own_executor_is_not_safe_there(monkeypatch):
    """What the nodes used before: proves the forced interleaving shows the traceback."""
    import gc
    import sys

    lost: list[str] = []
    monkeypatch.setattr(sys, 'unraisablehook', lambda u: lost.append(repr(u.exc_value)))
    monkeypatch.setattr(executors, 'Clock', lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt))
    rclpy.init()
    try:
        with pytest.raises(KeyboardInterrupt):
            executors.SingleThreadedExecutor()
        gc.collect()
    finally:
        rclpy.try_shutdown()
    assert any('_sigint_gc' in text for text in lost), lost

# SPDX-License-Identifier: Apache-2.0
"""FusionNode lifecycle driven in-process (no traffic)."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from fusion_ros.ros.fusion_node import FusionNode  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def make_node(**overrides) -> FusionNode:
    params = [Parameter('autostart', value=False)]
    params += [Parameter(k.replace('__', '.'), value=v) for k, v in overrides.items()]
    return FusionNode(parameter_overrides=params)


def test_configure_activate_deactivate_cleanup(ros_context):
    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.engine is not None and node.engine.model_name == 'max'
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert len(node._subs) == 2
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node._subs == []
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.engine is None
    finally:
        node.destroy_node()


@pytest.mark.parametrize('overrides', [
    {'model': 'no_such_model'},
    {'device': 'cuda:7'},
    {'qos__input': 'fastest'},
    {'thermal__agc': [99.0, 1.0]},
])
def test_bad_configuration_fails_the_transition(ros_context, overrides):
    node = make_node(**overrides)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.engine is None
    finally:
        node.destroy_node()


def test_out_of_range_parameter_is_rejected(ros_context):
    node = make_node()
    try:
        result = node.set_parameters([Parameter('sync.slop', value=-1.0)])[0]
        assert not result.successful
        assert node.get_parameter('sync.slop').value == 0.025
    finally:
        node.destroy_node()

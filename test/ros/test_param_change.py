# SPDX-License-Identifier: Apache-2.0
"""plan_change: what a run-time parameter change does to a running fusion node, decided
from the old config and the new values alone (the node then builds, swaps and resets)."""

from __future__ import annotations

import pytest

from fusion_ros.errors import ConfigError
from fusion_ros.ros.fusion_params import PARAMS, FusionNodeConfig, plan_change

DEFAULTS = {p.name: p.default for p in PARAMS}


def _config(**changes):
    return FusionNodeConfig.from_params({**DEFAULTS, **changes})


def test_nothing_changed_builds_and_resets_nothing():
    old = _config()
    change = plan_change(old, dict(DEFAULTS))
    assert not (change.new_engine or change.new_homography or change.new_monitor)
    assert change.config == old


@pytest.mark.parametrize('name, value', [('model', 'laplacian'), ('precision', 'fp32'),
                                         ('backend', 'torch'), ('compile', True)])
def test_an_engine_field_builds_a_new_engine(name, value):
    old = _config(publish_enhanced=False)
    change = plan_change(old, {**DEFAULTS, name: value, 'publish_enhanced': True})
    assert change.new_engine and not change.new_homography
    assert getattr(change.config, name) == value
    # publish_enhanced is not live: the new engine keeps the running node's choice
    assert change.engine_config.publish_enhanced is False
    assert change.config.publish_enhanced is False


def test_a_new_homography_warps_the_running_engine_and_restarts_the_watch():
    shifted = [1.0, 0.0, 3.0, 0.0, 1.0, -2.0, 0.0, 0.0, 1.0]
    change = plan_change(_config(), {**DEFAULTS, 'registration.homography': shifted})
    assert change.new_homography and change.new_monitor and not change.new_engine
    assert list(change.config.homography) == shifted
    # with a model change too, the new engine is built with it instead
    both = plan_change(_config(), {**DEFAULTS, 'registration.homography': shifted,
                                   'model': 'laplacian'})
    assert both.new_engine and not both.new_homography
    assert list(both.engine_config.homography) == shifted


def test_live_fields_apply_and_the_others_wait_for_configure():
    old = _config()
    values = {**DEFAULTS, 'illumination.night_threshold': 0.2, 'max_rate': 5.0,
              'sync.slop': 0.5}
    change = plan_change(old, values)
    assert change.config.night_threshold == 0.2 and change.config.max_rate == 5.0
    assert FusionNodeConfig.from_params(values).slop == 0.5 != old.slop
    assert change.config.slop == old.slop  # pairing is set up at configure
    assert not change.new_engine and not change.new_monitor


def test_an_invalid_value_is_refused_before_anything_is_built():
    bad = {**DEFAULTS, 'illumination.night_threshold': 0.9, 'illumination.day_threshold': 0.1,
           'model': 'laplacian'}
    with pytest.raises(ConfigError):
        plan_change(_config(), bad)

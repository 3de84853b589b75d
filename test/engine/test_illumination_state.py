# SPDX-License-Identifier: Apache-2.0
"""Day/night hysteresis and the weight-free enhancement."""

import numpy as np
import pytest
import torch

from fusion_ros.engine.illumination_state import NightHysteresis
from fusion_ros.errors import ConfigError
from fusion_ros.ops.enhance import gamma_enhance


def test_noise_around_a_threshold_does_not_flicker():
    h = NightHysteresis(0.4, 0.6, min_dwell_s=1.0)
    rng = np.random.default_rng(0)
    states = [h.update(p, i * 0.05)
              for i, p in enumerate(np.clip(0.5 + rng.normal(0, 0.15, 400), 0, 1))]
    flips = sum(a != b for a, b in zip(states, states[1:]))
    assert flips <= 2  # a raw threshold at 0.5 would flip ~100 times


def test_switches_after_the_dwell_and_back():
    h = NightHysteresis(0.4, 0.6, min_dwell_s=1.0)
    assert h.update(0.9, 0.0) is False
    assert h.update(0.1, 0.5) is False  # night condition starts
    assert h.update(0.1, 1.4) is False
    assert h.update(0.5, 1.45) is False  # between thresholds: the dwell restarts
    assert h.update(0.1, 1.5) is False
    assert h.update(0.1, 2.5) is True
    assert h.update(0.55, 10.0) is True  # not above the day threshold
    assert h.update(0.7, 11.0) is True
    assert h.update(0.7, 12.0) is False
    h.reset()
    assert h.update(0.2, 0.0) is True  # the first sample decides


def test_bad_thresholds_are_refused():
    with pytest.raises(ConfigError):
        NightHysteresis(0.7, 0.3)
    with pytest.raises(ConfigError):
        NightHysteresis(min_dwell_s=-1)


def test_gamma_enhance_lifts_dark_and_keeps_bright():
    dark = torch.full((1, 1, 8, 8), 0.05)
    bright = torch.full((1, 1, 8, 8), 0.7)
    assert gamma_enhance(dark).mean() > 0.3
    torch.testing.assert_close(gamma_enhance(bright), bright)
    ramp = torch.linspace(0, 0.2, 64).view(1, 1, 8, 8)
    out = gamma_enhance(ramp).flatten()
    assert (out[1:] >= out[:-1]).all()  # monotonic: no contrast inversion

# SPDX-License-Identifier: Apache-2.0
"""Day/night hysteresis and the weight-free enhancement."""

import numpy as np
import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.ops.enhance import gamma_enhance
from fusion_ros.stream.hysteresis import NightHysteresis
from test.lowlight import night_frame, noise


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


def _lift(grey: np.ndarray, **kwargs) -> np.ndarray:
    y = torch.from_numpy(grey.astype(np.float32) / 255)[None, None]
    return np.rint(gamma_enhance(y, **kwargs)[0, 0].numpy() * 255).astype(np.uint8)


def test_a_night_frame_is_lifted_without_lifting_itsnoise():
    night = night_frame()
    plain, enhanced = _lift(night, denoise_radius=0), _lift(night)
    assert enhanced.mean() > 2.5 * night.mean()
    assert abs(float(enhanced.mean()) - float(plain.mean())) < 3.0  # the same tone curve
    assert noise(plain) > 1.3 * noise(night)  # the lift alone stretches the noise
    assert noise(enhanced) <= noise(night)  # the smoothing takes it back out
    # the lamp's edge and the road's gradient stay: region means as the plain lift's
    for region in (np.s_[35:65, 45:85], np.s_[0:20, 0:20], np.s_[0:20, 108:128]):
        assert abs(float(enhanced[region].mean()) - float(plain[region].mean())) < 2.0
    assert enhanced[50, 44].astype(int) - enhanced[50, 36] > 0.8 * (plain[50, 44].astype(int)
                                                                     - plain[50, 36])


def test_the_smoothing_grows_with_the_lift_and_keeps_the_dtype():
    night = torch.from_numpy(night_frame().astype(np.float32) / 255)[None, None]
    dusk = night * 2.2  # lifted less: smoothed less
    assert 0.0 < float((gamma_enhance(dusk) - gamma_enhance(dusk, denoise_radius=0)).abs().mean()
                       ) < float((gamma_enhance(night)
                                  - gamma_enhance(night, denoise_radius=0)).abs().mean())
    out = gamma_enhance(night.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), gamma_enhance(night), atol=8e-3, rtol=0)

# SPDX-License-Identifier: Apache-2.0
"""The synthetic day-to-night sequence."""

import numpy as np
import pytest

from fusion_ros.data.synthetic import SynthConfig, generate_sequence
from fusion_ros.errors import ConfigError

CFG = SynthConfig(width=160, height=128, seconds=2.0, seed=7)


def frames(cfg=CFG):
    return list(generate_sequence(cfg))


def test_shapes_count_and_dtypes():
    fs = frames()
    assert len(fs) == 40
    assert fs[0].thermal.shape == (128, 160) and fs[0].thermal.dtype == np.uint8
    assert fs[0].rgb.shape == (128, 160, 3) and fs[0].rgb.dtype == np.uint8


def test_deterministic_for_a_seed_and_different_across_seeds():
    a, b = frames(), frames()
    c = frames(SynthConfig(width=160, height=128, seconds=2.0, seed=8))
    np.testing.assert_array_equal(a[5].rgb, b[5].rgb)
    np.testing.assert_array_equal(a[5].thermal, b[5].thermal)
    assert a[5].rgb_stamp_ns == b[5].rgb_stamp_ns
    assert not np.array_equal(a[5].rgb, c[5].rgb)


def test_day_to_night():
    fs = frames()
    assert not fs[0].is_night and fs[-1].is_night
    assert fs[-1].rgb.mean() < 0.5 * fs[0].rgb.mean()
    # the thermal image does not go dark at night
    assert fs[-1].thermal.mean() > 0.7 * fs[0].thermal.mean()


def test_pedestrian_is_warm_in_thermal_and_dark_in_rgb_at_night():
    last = frames()[-1]
    person = next(b for b in last.boxes if b.label == 'person')
    x0, y0 = int(person.x + person.w / 2) - 2, int(person.y + 0.4 * person.h)
    patch_t = last.thermal[y0:y0 + 4, x0:x0 + 4]
    assert patch_t.mean() > np.median(last.thermal) + 50
    assert last.rgb[y0:y0 + 4, x0:x0 + 4].mean() < 60


def test_headlight_glare_saturates_rgb_at_night():
    fs = frames()
    car_frames = [f for f in fs if f.is_night and any(b.label == 'car' for b in f.boxes)]
    assert car_frames, 'the car drives through at night'
    assert (car_frames[0].rgb >= 250).all(axis=2).sum() > 20


def test_stamps_have_independent_bounded_jitter():
    cfg = SynthConfig(width=64, height=64, seconds=5.0, jitter_ms=2.0)
    fs = frames(cfg)
    period = 50_000_000
    t0 = fs[0].rgb_stamp_ns - (fs[0].rgb_stamp_ns - fs[0].thermal_stamp_ns) / 2
    dt = np.array([f.rgb_stamp_ns - f.thermal_stamp_ns for f in fs]) / 1e6
    assert np.abs(dt).max() <= 10.0 + 1e-6  # two cameras, each clipped at 2.5 sigma = 5 ms
    assert dt.std() > 1.0  # really jittered, independently
    nominal = np.array([f.rgb_stamp_ns for f in fs]) - np.arange(len(fs)) * period
    assert np.abs(nominal - t0).max() < 12e6


@pytest.mark.parametrize('kwargs', [{'width': 10}, {'fps': 0}, {'seconds': -1},
                                    {'jitter_ms': -1}])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        SynthConfig(**kwargs)

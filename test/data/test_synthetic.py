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


def test_16bit_thermal_holds_raw_counts():
    f = frames(SynthConfig(width=96, height=64, seconds=0.1, thermal_16bit=True))[0]
    assert f.thermal.dtype == np.uint16
    assert f.thermal.min() >= 7000 and f.thermal.max() <= 9500
    assert f.thermal.max() - f.thermal.min() > 500  # real contrast, not a flat image


def test_the_homography_undoes_the_thermal_offset():
    import cv2

    base = SynthConfig(width=160, height=128, seconds=0.1, seed=4)
    shifted = SynthConfig(width=160, height=128, seconds=0.1, seed=4,
                          thermal_offset=(9.0, -6.0, 1.05))
    ref, off = frames(base)[0].thermal.astype(float), frames(shifted)[0].thermal
    np.testing.assert_allclose(base.homography, np.eye(3))
    back = cv2.warpPerspective(off, shifted.homography, (160, 128)).astype(float)
    inner = (slice(16, -16), slice(16, -16))
    before = np.abs(off.astype(float) - ref)[inner].mean()
    after = np.abs(back - ref)[inner].mean()
    assert before > 4 * after and after < 3.0  # what is left: resampled sensor noise


def test_drop_rate_flags_frames_per_camera():
    fs = frames(SynthConfig(width=64, height=64, seconds=5.0, drop_rate=0.25, seed=1))
    rgb = np.array([f.rgb_dropped for f in fs])
    thermal = np.array([f.thermal_dropped for f in fs])
    assert 0.1 < rgb.mean() < 0.4 and 0.1 < thermal.mean() < 0.4
    assert not np.array_equal(rgb, thermal)  # independent cameras
    assert not any(f.rgb_dropped for f in frames())  # off by default


def test_boxes_and_labels_cover_the_story():
    fs = frames()
    assert all(b.label == 'person' for b in fs[0].boxes) and len(fs[0].boxes) == 1
    assert any(b.label == 'car' for f in fs for b in f.boxes)
    assert not fs[0].is_night and fs[-1].is_night
    for f in fs:
        for b in f.boxes:
            assert b.w > 0 and b.h > 0

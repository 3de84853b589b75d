# SPDX-License-Identifier: Apache-2.0
"""Metric properties in both conventions."""

import math

import numpy as np
import pytest

from fusion_ros.errors import ConfigError, ShapeError
from fusion_ros.metrics import METRICS, compute_metrics, to_grey_uint8

RNG = np.random.default_rng(0)


def images(h=64, w=80):
    a = RNG.integers(0, 256, (h, w), dtype=np.uint8)
    b = RNG.integers(0, 256, (h, w), dtype=np.uint8)
    f = ((a.astype(int) + b) // 2).astype(np.uint8)
    return a, b, f


@pytest.mark.parametrize('convention', ['tang', 'standard'])
def test_all_metrics_finite(convention):
    values = compute_metrics(*images(), convention=convention)
    assert set(values) == set(METRICS)
    assert all(math.isfinite(v) for v in values.values())


def test_psnr_conventions_differ_by_48_13_db():
    a, b, f = images()
    tang = compute_metrics(a, b, f, ['PSNR'], 'tang')['PSNR']
    std = compute_metrics(a, b, f, ['PSNR'], 'standard')['PSNR']
    assert tang - std == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_standard_sd_is_the_standard_deviation():
    a, b, f = images()
    assert compute_metrics(a, b, f, ['SD'], 'standard')['SD'] == pytest.approx(f.std())
    # tang squares in saturating uint8: never above sqrt(255)
    assert compute_metrics(a, b, f, ['SD'], 'tang')['SD'] <= math.sqrt(255)


def test_mi_of_a_copy_is_twice_its_entropy_in_standard():
    a, _, _ = images()
    values = compute_metrics(a, a, a, ['MI', 'EN'], 'standard')
    assert values['MI'] == pytest.approx(2 * values['EN'])


def test_mi_tang_merges_levels_254_and_255():
    a = np.tile(np.array([254, 255], np.uint8), (8, 8))
    standard = compute_metrics(a, a, a, ['MI'], 'standard')['MI']
    tang = compute_metrics(a, a, a, ['MI'], 'tang')['MI']
    assert standard == pytest.approx(2.0)  # 1 bit each
    assert tang == pytest.approx(4.0)  # joint entropy 0: H(a) + H(f) - 0, twice


def test_cc_quirk_is_harmless():
    # tang centres the second source with the first source's mean; because sum(F - mean F)
    # is 0, that constant cancels from the numerator: both conventions agree.
    a, b, f = images()
    b = np.clip(b.astype(int) // 2, 0, 255).astype(np.uint8)  # different mean from a
    tang = compute_metrics(a, b, f, ['CC'], 'tang')['CC']
    std = compute_metrics(a, b, f, ['CC'], 'standard')['CC']
    assert tang == pytest.approx(std, rel=1e-12)
    assert compute_metrics(a, a, a, ['CC'], 'standard')['CC'] == pytest.approx(1.0)
    assert compute_metrics(a, 255 - a, a, ['CC'], 'standard')['CC'] == pytest.approx(0.0)


def test_identical_images():
    a, _, _ = images()
    values = compute_metrics(a, a, a, ['MSE', 'PSNR', 'SSIM'], 'standard')
    assert values['MSE'] == 0 and values['PSNR'] == math.inf
    assert values['SSIM'] == pytest.approx(2.0)


def test_a_sharper_fusion_scores_higher_qabf_and_vif():
    y, x = np.mgrid[0:96, 0:96]
    a = ((x // 12 + y // 12) % 2 * 200 + 20).astype(np.uint8)  # checkerboard (edges)
    b = RNG.integers(100, 140, a.shape, dtype=np.uint8)
    keep = a.copy()
    blur = np.full_like(a, int(a.mean()))
    sharp = compute_metrics(a, b, keep, ['Qabf', 'VIF'])
    flat = compute_metrics(a, b, blur, ['Qabf', 'VIF'])
    assert sharp['Qabf'] > flat['Qabf'] + 0.5
    assert sharp['VIF'] > flat['VIF']


def test_vif_of_a_flat_source_is_nan_as_in_matlab():
    a, _, f = images()
    assert math.isnan(compute_metrics(a, np.full_like(a, 7), f, ['VIF'])['VIF'])


def test_colour_is_evaluated_on_luminance():
    a, b, _ = images()
    rgb = RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    assert compute_metrics(a, b, rgb) == compute_metrics(a, b, to_grey_uint8(rgb))
    # MATLAB rgb2gray weights
    assert to_grey_uint8(np.array([[[255, 0, 0]]], np.uint8))[0, 0] == 76


def test_errors():
    a, b, f = images()
    with pytest.raises(ShapeError, match='sizes differ'):
        compute_metrics(a, b, f[:-1])
    with pytest.raises(ConfigError, match='unknown metric'):
        compute_metrics(a, b, f, ['FOO'])
    with pytest.raises(ConfigError, match='convention'):
        compute_metrics(a, b, f, convention='matlab')
    with pytest.raises(ShapeError):
        compute_metrics(a, b, np.zeros((64, 80), np.float32))

# SPDX-License-Identifier: Apache-2.0
"""Registration from ordinary frames: known transforms come back, bad input is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusion_ros.data.synthetic import SynthConfig, generate_sequence
from fusion_ros.errors import ConfigError, RegistrationError
from fusion_ros.registration import (
    RegistrationMonitor,
    corner_error,
    edge_agreement,
    estimate_registration,
    resize_homography,
)


def _recording(offset=(0.0, 0.0, 1.0), frames=4, seed=1, size=(320, 256)):
    """Four frames: a recording (more than three: no round-trip check) at the suite's
    cost; ten came back no closer (corner error 0.02-0.15 px either way)."""
    cfg = SynthConfig(width=size[0], height=size[1], seconds=frames / 20.0, fps=20.0,
                      seed=seed, thermal_offset=offset)
    return cfg, [(f.thermal, f.rgb) for f in generate_sequence(cfg)]


def _moved(rng, size, half):
    """A thermal-to-RGB homography: shift <= 40 px, scale 0.85-1.15, rotation <= 3 deg."""
    c = np.array([(size[0] - 1) / 2, (size[1] - 1) / 2])
    s, a = rng.uniform(0.85, 1.15), np.deg2rad(rng.uniform(-3, 3))
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    to_thermal = np.eye(3)
    to_thermal[:2, :2], to_thermal[:2, 2] = rot, c - rot @ c + rng.uniform(-40, 40, 2)
    t_size = size
    if half:
        to_thermal = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1.0]]) @ to_thermal
        t_size = (size[0] // 2, size[1] // 2)
    return np.linalg.inv(to_thermal), t_size


def test_identity_recording_gives_identity():
    cfg, frames = _recording()
    result = estimate_registration(frames)
    assert corner_error(result.homography, np.eye(3), (320, 256)) <= 0.5
    assert len(result.used) == len(frames) and result.spread_px is not None


@pytest.mark.parametrize('offset', [(12.0, -9.0, 1.08), (-20.0, 14.0, 0.9)])
def test_synthetic_misregistration_is_recovered(offset):
    cfg, frames = _recording(offset)
    result = estimate_registration(frames)
    before = corner_error(resize_homography((320, 256), (320, 256)), cfg.homography,
                          (320, 256))
    assert before > 10  # the test means something
    assert corner_error(result.homography, cfg.homography, (320, 256)) <= 1.0
    assert result.score > result.score_before + 0.1


def test_restricted_models():
    cfg, frames = _recording((10.0, -6.0, 1.0), frames=4)
    shift = estimate_registration(frames, model='translation').homography
    assert np.allclose(shift[:2, :2], np.eye(2)) and np.allclose(shift[2], [0, 0, 1])
    assert corner_error(shift, cfg.homography, (320, 256)) <= 1.0
    full = estimate_registration(frames, model='homography').homography
    assert corner_error(full, cfg.homography, (320, 256)) <= 2.0
    with pytest.raises(ConfigError, match='unknown registration model'):
        estimate_registration(frames, model='projective')


@pytest.mark.shared
def test_real_pairs_recover_known_transforms(shared_dir):
    """LLVIP and RoadScene pairs at 640x512, thermal moved by a seeded random transform
    (half of them at half resolution). The pairs carry their own small offset, so the
    truth is the known transform composed with the estimate on the unwarped pair."""
    from fusion_ros.io.image_files import read_image
    from fusion_ros.metrics.fusion_metrics import to_grey_uint8

    rng = np.random.default_rng(7)
    size = (640, 512)
    for name, stem in (('llvip', '010003'), ('roadscene', 'FLIR_00018'),
                       ('roadscene', 'FLIR_00550')):
        root = shared_dir / 'data' / 'pairs' / name
        ir = cv2.resize(to_grey_uint8(read_image(next((root / 'ir').glob(stem + '.*')))),
                        size, interpolation=cv2.INTER_AREA)
        vi = cv2.resize(read_image(next((root / 'vi').glob(stem + '.*'))), size,
                        interpolation=cv2.INTER_AREA)
        h_true, t_size = _moved(rng, size, half=name == 'roadscene' and stem.endswith('8'))
        thermal = cv2.warpPerspective(ir, h_true, t_size,
                                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_REPLICATE)
        own = estimate_registration([(ir, vi)]).homography
        assert corner_error(own, np.eye(3), size) < 8  # the pairs are nearly aligned
        result = estimate_registration([(thermal, vi)])
        assert corner_error(resize_homography(t_size, size), h_true, t_size) > 15
        assert corner_error(result.homography, own @ h_true, t_size) <= 3.0, (name, stem)
        # one frame: checked by registering RGB onto thermal, and the round trip closes
        assert result.consistency_px is not None and result.consistency_px < 2.0


@pytest.mark.shared
def test_an_ambiguous_single_frame_is_refused_not_answered_wrong(shared_dir):
    """A RoadScene night frame (headlight glare, a dark street) with its thermal camera
    moved: unchecked, the best edge match is 200+ px off; the round-trip check refuses
    it. Recordings (more than three frames) are not checked: they pin the answer down."""
    from fusion_ros.io.image_files import read_image
    from fusion_ros.metrics.fusion_metrics import to_grey_uint8

    size = (640, 512)
    root = shared_dir / 'data' / 'pairs' / 'roadscene'
    ir = cv2.resize(to_grey_uint8(read_image(root / 'ir' / 'FLIR_06974.jpg')), size,
                    interpolation=cv2.INTER_AREA)
    vi = cv2.resize(read_image(root / 'vi' / 'FLIR_06974.jpg'), size,
                    interpolation=cv2.INTER_AREA)
    h_true, t_size = _moved(np.random.default_rng(0), size, half=False)
    thermal = cv2.warpPerspective(ir, h_true, t_size,
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE)
    unchecked = estimate_registration([(thermal, vi)], check=False)
    assert unchecked.consistency_px is None
    assert corner_error(unchecked.homography, h_true, t_size) > 50  # a wrong answer
    with pytest.raises(RegistrationError, match='do not pin the transform down'):
        estimate_registration([(thermal, vi)])


def test_recordings_are_not_round_trip_checked():
    _, frames = _recording((6.0, -4.0, 1.0), frames=4)
    assert estimate_registration(frames).consistency_px is None
    checked = estimate_registration(frames[:3])
    assert checked.consistency_px is not None and checked.consistency_px < 1.0


def test_textureless_frames_are_refused_not_answered():
    flat = np.full((256, 320), 120, np.uint8)
    grey = np.full((256, 320, 3), 90, np.uint8)
    with pytest.raises(RegistrationError, match='enough structure'):
        estimate_registration([(flat, grey)] * 3)
    rng = np.random.default_rng(0)  # structure, but nothing in common
    noise_t = cv2.GaussianBlur(rng.integers(0, 255, (256, 320), np.uint8), (0, 0), 2)
    noise_v = cv2.GaussianBlur(rng.integers(0, 255, (256, 320, 3), np.uint8), (0, 0), 2)
    with pytest.raises(RegistrationError, match='agree nowhere'):
        estimate_registration([(noise_t, noise_v)])


def test_textureless_frames_among_good_ones_are_left_out():
    cfg, frames = _recording((8.0, 5.0, 1.0), frames=6)
    blank = (np.zeros((256, 320), np.uint8), np.zeros((256, 320, 3), np.uint8))
    result = estimate_registration(frames[:3] + [blank] + frames[3:])
    assert 3 in result.skipped and 'textureless' in result.skipped[3]
    assert 3 not in result.used
    assert corner_error(result.homography, cfg.homography, (320, 256)) <= 1.0


def test_frames_of_changing_size_are_a_config_error():
    _, frames = _recording(frames=2)
    small = (frames[1][0][:128, :160], frames[1][1][:128, :160])
    with pytest.raises(ConfigError, match='differ'):
        estimate_registration([frames[0], small])


def test_edge_agreement_falls_when_the_homography_is_off():
    cfg, frames = _recording((15.0, -10.0, 1.0), frames=1)
    thermal, rgb = frames[0]
    good = edge_agreement(thermal, rgb, cfg.homography)
    bumped = cfg.homography @ np.array([[1, 0, 20.0], [0, 1, 0], [0, 0, 1]])
    assert good > 0.3
    assert edge_agreement(thermal, rgb, bumped) < 0.6 * good
    assert edge_agreement(np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)) == 0.0


def test_registration_monitor_baseline_and_drop():
    monitor = RegistrationMonitor(every=3, baseline=2, window=2, warn_ratio=0.5)
    assert [monitor.due() for _ in range(7)] == [True, False, False, True, False, False, True]
    for score in (0.4, 0.42):
        monitor.add(score)
    assert monitor.start == pytest.approx(0.41) and not monitor.dropped
    monitor.add(float('nan'))  # ignored
    monitor.add(0.1)
    assert not monitor.dropped  # median of the last two: (0.42 + 0.1) / 2 = 0.26 > 0.205
    monitor.add(0.1)
    assert monitor.dropped
    assert monitor.newly_dropped() and not monitor.newly_dropped()  # a warning logged once
    monitor.add(0.4)
    monitor.add(0.4)
    assert not monitor.newly_dropped()  # recovered
    monitor.add(0.1)
    monitor.add(0.1)
    assert monitor.newly_dropped()  # fell again: warn again
    monitor.reset()
    assert monitor.start is None and not monitor.dropped
    assert not RegistrationMonitor(every=0).due()
    with pytest.raises(ConfigError):
        RegistrationMonitor(warn_ratio=1.5)

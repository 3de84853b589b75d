# SPDX-License-Identifier: Apache-2.0
"""Window scores pooled into whole-image scores (the trainer's honest validation, issue 35):
tiles with context score as the image does; bare patches inflate Qabf."""

import cv2
import numpy as np
import pytest

from fusion_ros.errors import ConfigError, ShapeError
from fusion_ros.metrics import PooledScore, compute_metrics
from fusion_ros.metrics.pooled import tile_windows


def _scene(seed, h=256, w=320):
    """A smooth background with discs: edges of every strength and orientation."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w)), (0, 0), 6)
    img = (img - img.min()) / (img.max() - img.min()) * 120 + 40
    for _ in range(12):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, centre, int(rng.integers(5, 40)), float(rng.integers(0, 255)), -1)
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def _pooled(ir, vi, fused, tile, margin):
    score = PooledScore()
    size = tile + 2 * margin
    for win in tile_windows(*ir.shape, tile, margin):
        cut = np.s_[win.top:win.top + size, win.left:win.left + size]
        score.add('image', ir[cut], vi[cut], fused[cut], win.box)
    return score.result()


def test_tiles_partition_the_image_with_context_inside_it():
    for h, w, tile, margin in ((100, 130, 32, 8), (64, 64, 64, 0), (50, 70, 16, 20)):
        seen = np.zeros((h, w), int)
        size = tile + 2 * margin
        for win in tile_windows(h, w, tile, margin):
            top, left, bottom, right = win.box
            assert win.top >= 0 and win.left >= 0
            assert win.top + size <= max(h, size) and win.left + size <= max(w, size)
            # context on every side the image has it, up to the margin
            assert top >= min(margin, win.top + top) and left >= min(margin, win.left + left)
            seen[win.top + top:win.top + bottom, win.left + left:win.left + right] += 1
        assert (seen == 1).all()  # every pixel scored exactly once


@pytest.mark.parametrize('output', ['ir', 'average'])
def test_pooled_windows_score_as_the_whole_image_and_bare_patches_do_not(output):
    ir, vi = _scene(1), _scene(2)
    fused = ir if output == 'ir' else ((ir.astype(int) + vi) // 2).astype(np.uint8)
    full = compute_metrics(ir, vi, fused, ['EN', 'SD', 'SF', 'Qabf'])
    pooled = _pooled(ir, vi, fused, tile=64, margin=8)
    assert pooled['EN'] == pytest.approx(full['EN'], abs=1e-9)
    assert pooled['SD'] == pytest.approx(full['SD'], abs=1e-9)
    assert pooled['Qabf'] == pytest.approx(full['Qabf'], abs=0.02)
    assert pooled['SF'] == pytest.approx(full['SF'], rel=0.02)
    # what validation did before: each 64 px patch scored as a picture of its own, whose
    # borders are edges every output "preserves"
    bare = np.mean([compute_metrics(ir[t:t + 64, c:c + 64], vi[t:t + 64, c:c + 64],
                                    fused[t:t + 64, c:c + 64], ['Qabf'])['Qabf']
                    for t in range(0, 256, 64) for c in range(0, 320, 64)])
    assert bare > full['Qabf'] + 0.1


def test_images_are_averaged_as_eval_averages_them():
    a, b = _scene(3, 64, 64), _scene(4, 64, 64)
    score = PooledScore(['Qabf'])
    score.add('one', a, b, a, (0, 0, 64, 64))
    score.add('two', a, b, b, (0, 0, 64, 64))
    each = [compute_metrics(a, b, f, ['Qabf'])['Qabf'] for f in (a, b)]
    assert score.result()['Qabf'] == pytest.approx(np.mean(each))
    assert len(score) == 2


def test_refusals():
    a = np.zeros((16, 16), np.uint8)
    with pytest.raises(ConfigError, match='VIF'):
        PooledScore(['VIF'])
    with pytest.raises(ShapeError, match='inside'):
        PooledScore().add(0, a, a, a, (0, 0, 17, 16))
    with pytest.raises(ShapeError, match='equal'):
        PooledScore().add(0, a, a, a[:8], (0, 0, 8, 8))
    flat = PooledScore(['Qabf'])
    flat.add(0, a, a, a, (0, 0, 16, 16))  # no edges anywhere: no Qabf, not NaN
    assert flat.result() == {}


def test_source_correlations_pool_to_the_whole_images_pearson_r():
    ir, vi = _scene(5), _scene(6)
    blend = np.clip(0.7 * ir.astype(float) + 0.3 * vi, 0, 255).astype(np.uint8)
    inverted = (255 - ir).astype(np.uint8)
    for fused in (blend, inverted, vi):
        score = PooledScore(['corr_ir', 'corr_vi'])
        for win in tile_windows(*ir.shape, 48, 8):
            cut = np.s_[win.top:win.top + 64, win.left:win.left + 64]
            score.add('image', ir[cut], vi[cut], fused[cut], win.box)
        got = score.result()
        for key, source in (('corr_ir', ir), ('corr_vi', vi)):
            want = np.corrcoef(source.ravel().astype(float), fused.ravel().astype(float))[0, 1]
            assert got[key] == pytest.approx(want, abs=1e-9)
    assert got['corr_vi'] == pytest.approx(1.0)  # the last: a copy of the visible image
    flat = PooledScore(['corr_ir'])
    flat.add(0, np.zeros((16, 16), np.uint8), ir[:16, :16], ir[:16, :16], (0, 0, 16, 16))
    assert flat.result() == {}  # a flat source correlates with nothing: left out, not NaN

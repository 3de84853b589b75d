# SPDX-License-Identifier: Apache-2.0
"""--data specs, dataset layouts, bag pairs, patch sampling and the validation split."""

import math

import cv2
import numpy as np
import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.training.data import (
    PairCache,
    PatchDataset,
    darken,
    photometric_gamma,
    split_validation,
)
from fusion_ros.training.sources import load_sources, parse_data_spec

from .conftest import write_pair_set


def test_spec_parsing_and_layout_guessing(tmp_path, pair_set):
    spec = parse_data_spec(f'{pair_set},every=2,limit=1')
    assert (spec.layout, spec.every, spec.limit) == ('pairs', 2, 1)
    assert parse_data_spec(f'tno:{pair_set}').layout == 'tno'
    llvip = tmp_path / 'LLVIP'
    for sub in ('visible/train', 'infrared/train'):
        (llvip / sub).mkdir(parents=True)
    spec = parse_data_spec(str(llvip))
    assert (spec.layout, spec.split) == ('llvip', 'train')  # split defaults to train
    assert parse_data_spec(f'llvip:{llvip},split=test').split == 'test'
    assert len(load_sources([f'{pair_set},every=2'])) == 2
    assert len(load_sources([f'{pair_set},limit=3'])) == 3


@pytest.mark.parametrize(('spec', 'message'), [
    ('nosuch:{root}', 'unknown layout'),
    ('{root}/missing', 'does not exist'),
    ('{root},colour=red', 'bad option'),
    ('{root},every=0', 'every and limit must be >= 1'),
    ('{root},every=two', 'invalid literal'),
    ('{empty}', 'cannot tell the layout'),
])
def test_bad_specs_are_named(tmp_path, pair_set, spec, message):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ConfigError, match=message):
        load_sources([spec.format(root=pair_set, empty=tmp_path / 'empty')])


def test_unpaired_file_and_evaluation_set_refused(tmp_path, pair_set):
    cv2.imwrite(str(pair_set / 'ir' / 'lonely.png'), np.zeros((8, 8), np.uint8))
    with pytest.raises(ConfigError, match='lonely.png'):
        load_sources([str(pair_set)])
    other = write_pair_set(tmp_path / 'bench' / 'tno42')
    with pytest.raises(ConfigError, match='evaluation set'):
        load_sources([f'pairs:{other}'], exclude=[tmp_path / 'bench'])


def test_sizes_that_differ_are_named_on_load(tmp_path):
    root = write_pair_set(tmp_path / 's', n=1)
    name = next((root / 'vi').iterdir()).name
    cv2.imwrite(str(root / 'vi' / name), np.zeros((10, 12, 3), np.uint8))
    pair = load_sources([str(root)])[0]
    with pytest.raises(ConfigError, match=r'differ in size.*register'):
        pair.load()


def test_msrs_and_kaist_layouts_carry_day_night(tmp_path):
    msrs = tmp_path / 'MSRS'
    write_pair_set(msrs / 'train', n=2)
    pairs = load_sources([f'msrs:{msrs}'])
    assert [p.is_night for p in pairs] == [False, True]
    kaist = tmp_path / 'kaist'
    for set_name in ('set00', 'set03'):  # a day set and a night set
        video = kaist / set_name / 'V000'
        for sub in ('visible', 'lwir'):
            (video / sub).mkdir(parents=True)
            cv2.imwrite(str(video / sub / 'I00000.jpg'), np.full((16, 16, 3), 99, np.uint8))
    train = load_sources([f'kaist:{kaist}'])  # split=train: sets 00-05
    assert [p.is_night for p in train] == [False, True]
    ir, rgb = train[0].load()
    assert ir.shape == (16, 16) and rgb.shape == (16, 16, 3)


def test_bag_source_yields_synchronised_pairs(tmp_path):
    from fusion_ros.cli.synth import write_synthetic_bag

    bag = tmp_path / 'rec'
    write_synthetic_bag(bag, seconds=1.0, fps=10, size=(80, 64), progress=False,
                        thermal_16bit=True)
    pairs = load_sources([f'bag:{bag}'])
    assert len(pairs) == 10
    ir, rgb = pairs[0].load()
    assert ir.shape == (64, 80) and rgb.shape == (64, 80, 3)
    assert ir.min() >= 0.0 and ir.max() <= 1.0 and ir.std() > 0.05  # 16-bit gain control
    assert len(load_sources([f'bag:{bag},every=3'])) == 4
    with pytest.raises(ConfigError, match='no synchronised pairs'):
        load_sources([f'bag:{bag},thermal=/nothing'])


def test_random_crops_are_deterministic_per_epoch(pair_set):
    cache = PairCache(load_sources([str(pair_set)]))
    ds = PatchDataset(cache, patch=16, patches_per_image=3, seed=5)
    assert len(ds) == 12
    a = ds[7]
    assert torch.equal(a[0], ds[7][0]) and a[0].shape == (1, 16, 16) and a[1].shape == (3, 16, 16)
    ds.epoch = 1
    assert not torch.equal(a[0], ds[7][0])
    # an (epoch, index) item names its epoch itself (what the trainer's loader hands out)
    assert torch.equal(ds[(0, 7)][0], a[0]) and torch.equal(ds[(1, 7)][0], ds[7][0])
    assert a[2] == 0.0 if cache.pairs[7 // 3].is_night else a[2] == 1.0


def test_stride_and_grid_sampling_cover_the_image(pair_set):
    cache = PairCache(load_sources([str(pair_set)]))  # 48x40 images
    grid = PatchDataset(cache, patch=16, sampling='grid', stride=16)
    assert len(grid) == 4 * (2 * 3)  # rows 0,16 (40-16=24) x cols 0,16,32
    ir, rgb, _ = grid[1]
    expected = torch.from_numpy(cache.pairs[0].load()[0][0:16, 16:32])
    assert torch.equal(ir[0], expected)  # grid: no flips
    assert len(PatchDataset(cache, patch=16, sampling='grid', max_items=5)) == 5
    small = PatchDataset(cache, patch=64, sampling='grid')  # bigger than the image: padded
    assert len(small) == 4 and small[0][0].shape == (1, 64, 64)


def test_night_augment_darkens_day_crops_into_labelled_night(pair_set):
    cache = PairCache(load_sources([str(pair_set)]))  # 000D 001N 002D 003N
    plain = PatchDataset(cache, patch=16, patches_per_image=50, seed=3)
    aug = PatchDataset(cache, patch=16, patches_per_image=50, seed=3, night_augment=0.4)
    darkened = 0
    for i in range(len(plain)):
        ir0, rgb0, day0 = plain[i]
        ir1, rgb1, day1 = aug[i]
        assert torch.equal(ir0, ir1)  # same crop and flips: only the visible crop changes
        if day0 == 0.0:  # real night is never touched
            assert day1 == 0.0 and torch.equal(rgb0, rgb1)
        elif not torch.equal(rgb0, rgb1):
            darkened += 1
            assert day1 == 0.0 and rgb1.mean() < 0.7 * rgb0.mean()
        else:
            assert day1 == day0
    assert 25 <= darkened <= 55  # about 40 % of the 100 day crops
    assert all(torch.equal(aug[i][1], aug[i][1]) for i in range(0, 200, 37))  # seeded
    with pytest.raises(ConfigError, match='night_augment'):
        PatchDataset(cache, patch=16, night_augment=1.5)


def test_darken_is_a_dim_noisy_camera_frame():
    rng = np.random.default_rng(0)
    flat = np.full((3, 64, 64), 0.6, np.float32)
    dark = darken(flat, rng)
    assert dark.dtype == np.float32 and dark.shape == flat.shape
    assert dark.min() >= 0.0 and dark.max() <= 1.0
    assert 0.1 < dark.mean() < 0.4  # at most 30 % (x 1.15 tint) of the exposure: 0.6 -> 0.37
    assert dark.std() > 0.005  # the gain brings up sensor noise a flat day patch lacks
    assert not np.array_equal(dark, darken(flat, np.random.default_rng(1)))


def test_photometric_gamma_changes_which_source_is_brighter_but_keeps_every_edge():
    ramp = np.tile(np.linspace(0.05, 0.95, 32, dtype=np.float32), (32, 1))
    crop = np.stack((ramp, ramp, ramp, ramp))  # thermal and visible equally bright
    brighter = set()
    for seed in range(40):
        out = photometric_gamma(crop, np.random.default_rng(seed))
        assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
        assert np.all(np.diff(out, axis=2) > 0)  # monotone: the ramp's edges all stay
        assert np.array_equal(out[1], out[2]) and np.array_equal(out[2], out[3])  # one gamma
        brighter.add(bool(out[0].mean() > out[1].mean()))
    assert brighter == {True, False}  # each source is the brighter in some crops


def test_photometric_share_touches_only_that_share_of_crops(pair_set):
    cache = PairCache(load_sources([str(pair_set)]))
    plain = PatchDataset(cache, patch=16, patches_per_image=50, seed=3)
    aug = PatchDataset(cache, patch=16, patches_per_image=50, seed=3, photometric=0.3)
    changed = sum(not torch.equal(plain[i][0], aug[i][0]) for i in range(len(plain)))
    assert 35 <= changed <= 85  # about 30 % of 200 crops
    assert all(plain[i][2] == aug[i][2] or math.isnan(plain[i][2]) for i in range(0, 200, 7))
    with pytest.raises(ConfigError, match='photometric'):
        PatchDataset(cache, patch=16, photometric=-0.1)


def test_unlabelled_pairs_give_nan_day(tmp_path):
    root = write_pair_set(tmp_path / 's', n=2, suffixes='xy')
    cache = PairCache(load_sources([str(root)]))
    assert math.isnan(PatchDataset(cache, patch=8)[0][2])


def test_validation_split_is_seeded_and_disjoint(pair_set):
    pairs = load_sources([str(pair_set)])
    train, val = split_validation(pairs, 0.25, seed=1)
    assert len(val) == 1 and len(train) == 3
    assert {p.name for p in train}.isdisjoint(p.name for p in val)
    assert [p.name for p in split_validation(pairs, 0.25, seed=1)[1]] == [val[0].name]
    assert split_validation(pairs[:1], 0.5)[1] == []  # one pair: nothing to hold out
    with pytest.raises(ConfigError):
        split_validation(pairs, 1.0)


def test_cache_keeps_8_bit_pairs_as_uint8_and_patches_keep_their_bits(tmp_path, pair_set):
    cache = PairCache(load_sources([str(pair_set)]))
    ir, rgb = cache.get(0)
    assert ir.dtype == rgb.dtype == np.uint8 and cache.used == ir.nbytes + rgb.nbytes
    unit_ir, unit_rgb = cache.pairs[0].load()  # the float32 [0, 1] images
    grid = PatchDataset(cache, patch=16, sampling='grid', stride=8)
    first = [i for i, position in enumerate(grid.positions) if position[0] == 0]
    assert len(first) == 4 * 5  # (40 - 16) / 8 + 1 rows x (48 - 16) / 8 + 1 columns
    for index in first:
        top, left = grid.positions[index][1:]
        a_ir, a_rgb, _ = grid[index]
        assert a_ir.dtype == a_rgb.dtype == torch.float32
        assert torch.equal(a_ir[0], torch.from_numpy(unit_ir[top:top + 16, left:left + 16]))
        assert torch.equal(a_rgb, torch.from_numpy(np.ascontiguousarray(
            unit_rgb[top:top + 16, left:left + 16].transpose(2, 0, 1))))
    # 16-bit thermal needs the gain control: kept as float32 [0, 1]
    root = tmp_path / 'raw16'
    (root / 'ir').mkdir(parents=True)
    (root / 'vi').mkdir()
    raw = np.random.default_rng(0).integers(7000, 9000, (40, 48), dtype=np.uint16)
    cv2.imwrite(str(root / 'ir' / 'a.png'), raw)
    cv2.imwrite(str(root / 'vi' / 'a.png'), np.full((40, 48, 3), 90, np.uint8))
    ir16, rgb16 = PairCache(load_sources([str(root)])).get(0)
    assert ir16.dtype == rgb16.dtype == np.float32 and 0.0 <= ir16.min() < ir16.max() <= 1.0
    patch = PatchDataset(PairCache(load_sources([str(root)])), patch=16)[0]
    assert patch[0].dtype == torch.float32 and float(patch[1].max()) == np.float32(90 / 255)


def test_cache_budget_keeps_nothing_when_zero(pair_set):
    cache = PairCache(load_sources([str(pair_set)]), budget_mb=0)
    a = cache.get(0)[0]
    assert cache.used == 0 and np.array_equal(a, cache.get(0)[0])


def _ramp_pair(root, size=(250, 250)):
    """A pair whose images climb one grey level a pixel from left to right."""
    h, w = size
    ramp = np.tile(np.arange(w), (h, 1)).astype(np.uint8)
    for sub in ('ir', 'vi'):
        (root / sub).mkdir(parents=True)
    cv2.imwrite(str(root / 'ir' / 'a.png'), ramp)
    cv2.imwrite(str(root / 'vi' / 'a.png'), cv2.merge([ramp, ramp, ramp]))
    return root


def _slope(ir: torch.Tensor) -> float:
    """Grey levels a pixel along the rows of a crop (either direction: crops flip)."""
    return float(np.abs(np.diff(ir[0].numpy().astype(np.float64) * 255, axis=1)).mean())


def test_zoom_spreads_edges_over_more_or_fewer_pixels_and_changes_nothing_else(tmp_path):
    cache = PairCache(load_sources([str(_ramp_pair(tmp_path / 'ramp'))]))
    plain = PatchDataset(cache, patch=32, patches_per_image=200, seed=5)
    zoomed = PatchDataset(cache, patch=32, patches_per_image=200, seed=5, zoom=0.5,
                          zoom_spread=3.0)
    slopes, untouched = [], 0
    for i in range(len(plain)):
        ir, rgb, _ = zoomed[i]
        assert ir.shape == (1, 32, 32) and rgb.shape == (3, 32, 32)
        if torch.equal(ir, plain[i][0]):
            untouched += 1  # the same crop, flips and all: the zoom drew its own numbers
            assert _slope(ir) == pytest.approx(1.0)
        else:
            slopes.append(_slope(ir))
    assert 70 <= untouched <= 130  # about half of 200
    slopes = np.array(slopes)
    # a square of 32 / s pixels resized to 32: the ramp climbs s levels a pixel
    assert slopes.min() >= 1 / 3.0 - 0.05 and slopes.max() <= 3.0 + 0.05
    assert (slopes < 0.7).sum() > 10 and (slopes > 1.4).sum() > 10  # both ways


def test_zoom_is_bounded_by_the_frame_and_refused_where_it_cannot_work(tmp_path):
    cache = PairCache(load_sources([str(_ramp_pair(tmp_path / 'small', size=(40, 60)))]))
    zoomed = PatchDataset(cache, patch=32, patches_per_image=100, seed=1, zoom=1.0,
                          zoom_spread=4.0)
    # shrinking can take at most the frame's short side (40 px): at most 40/32 levels a pixel
    assert max(_slope(zoomed[i][0]) for i in range(100)) <= 40 / 32 + 0.05
    with pytest.raises(ConfigError, match='zoom'):
        PatchDataset(cache, patch=32, zoom=1.5)
    with pytest.raises(ConfigError, match='random sampling'):
        PatchDataset(cache, patch=32, sampling='grid', stride=16, zoom=0.5)

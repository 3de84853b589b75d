# SPDX-License-Identifier: Apache-2.0
"""Validation scored on whole held-out images (issue 35): windows that tile each image with
context, metrics pooled per image, best.pt chosen by a score when asked."""

import csv
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.metrics import compute_metrics
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.ops.convert import tensor_to_uint8
from fusion_ros.training.config import load_train_config
from fusion_ros.training.data import PairCache
from fusion_ros.training.sources import load_sources
from fusion_ros.training.trainer import train
from fusion_ros.training.validation import ValidationWindows, validate

from .conftest import write_pair_set


def _cache(root, **kwargs):
    return PairCache(load_sources([f'pairs:{write_pair_set(root, **kwargs)}']))


def test_windows_cover_every_pixel_once_and_pad_small_images(tmp_path):
    cache = _cache(tmp_path / 'set', n=3, size=(70, 52))
    windows = ValidationWindows(cache, tile=24, margin=6)
    counts = {i: np.zeros((52, 70), int) for i in range(3)}
    for index in range(len(windows)):
        ir, rgb, day, pair, box = windows[index]
        assert ir.shape == (1, 36, 36) and rgb.shape == (3, 36, 36)
        _, win = windows.items[index]
        top, left, bottom, right = box.tolist()
        counts[pair][win.top + top:win.top + bottom, win.left + left:win.left + right] += 1
        # the window is the image's own pixels around the tile
        full_ir, _ = cache.get(pair)
        want = full_ir[win.top:win.top + 36, win.left:win.left + 36] / 255.0
        assert np.allclose(ir[0].numpy(), want, atol=1e-6)
    assert all((c == 1).all() for c in counts.values())
    small = ValidationWindows(_cache(tmp_path / 'small', n=1, size=(20, 18)), 16, 8)
    ir, rgb, *_ = small[0]
    assert ir.shape == (1, 32, 32)  # reflected up to the window; never scored
    capped = ValidationWindows(cache, tile=24, margin=6, max_items=5)
    assert len(capped) == 5 and {pair for pair, _ in capped.items} == {0, 1, 2}


class _IrOutput(torch.nn.Module):
    """An objective whose "fused" image is the IR input: nothing to learn, everything known."""

    def compute(self, ir, rgb, day):
        return {'total': ir.mean()}, ir

    def luminance(self, rgb):
        return COLOUR_TRANSFORMS['bt601_full'][0](rgb)[:, :1]


def test_an_ir_copy_scores_as_on_its_full_images(tmp_path):
    cache = _cache(tmp_path / 'set', n=2, size=(96, 80))
    run = SimpleNamespace(objective=_IrOutput(), config=SimpleNamespace(batch=4),
                          inputs=lambda *t: list(t))
    row = validate(run, ValidationWindows(cache, tile=32, margin=8))
    full = []
    for i in range(2):
        ir, rgb = cache.get(i)
        y = _IrOutput().luminance(torch.from_numpy(rgb / 255.0).permute(2, 0, 1)[None].float())
        full.append(compute_metrics(ir, tensor_to_uint8(y), ir, ['Qabf', 'EN'])
                    )
    assert row['Qabf'] == pytest.approx(np.mean([f['Qabf'] for f in full]), abs=0.02)
    assert row['EN'] == pytest.approx(np.mean([f['EN'] for f in full]), abs=1e-6)


def test_best_by_a_score_keeps_the_step_with_the_highest(tmp_path):
    data = write_pair_set(tmp_path / 'set')
    config = load_train_config(
        'fastfusion', data=[str(data)], out=str(tmp_path / 'run'), batch=2, patch=32,
        patches_per_image=2, model_options={'width': 8}, val_fraction=0.25, device='cpu',
        steps=12, lr=0.05, best_by='Qabf', val_margin=4)
    summary = train(config, progress=False, log=lambda _: None)
    with open(tmp_path / 'run' / 'val.csv', newline='') as f:
        rows = [(int(r['step']), float(r['Qabf'])) for r in csv.DictReader(f)]
    assert len(rows) == 4
    best_step, best_qabf = max(rows, key=lambda r: r[1])
    assert summary['best_step'] == best_step and summary['best_by'] == 'Qabf'
    assert summary['best_value'] == pytest.approx(best_qabf, rel=1e-5)
    saved = torch.load(tmp_path / 'run' / 'best.pt', weights_only=True)
    assert saved['step'] == best_step


def test_validation_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match='best_by'):
        load_train_config('fastfusion', best_by='VIF')
    with pytest.raises(ConfigError, match='val_tile'):
        load_train_config('fastfusion', val_tile=4)
    data = write_pair_set(tmp_path / 'set')
    with pytest.raises(ConfigError, match='validation window'):
        train(load_train_config('dfvo', data=[str(data)], out=str(tmp_path / 'b'), patch=32,
                                val_margin=3), progress=False, log=lambda _: None)

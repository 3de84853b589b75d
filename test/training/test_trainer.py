# SPDX-License-Identifier: Apache-2.0
"""Trainer: outputs, determinism of resumed runs, refusals."""

import cv2
import numpy as np
import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.training.trainer import TrainConfig, train


@pytest.fixture()
def pair_set(tmp_path):
    root = tmp_path / 'set'
    rng = np.random.default_rng(0)
    for sub in ('ir', 'vi'):
        (root / sub).mkdir(parents=True)
    for i, suffix in enumerate('DN'):
        cv2.imwrite(str(root / 'ir' / f'{i}{suffix}.png'),
                    rng.integers(0, 256, (40, 48), dtype=np.uint8))
        cv2.imwrite(str(root / 'vi' / f'{i}{suffix}.png'),
                    rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    return root


def _config(pair_set, out, epochs):
    return TrainConfig(model='fastfusion', data=[str(pair_set)], out=str(out), epochs=epochs,
                       batch_size=2, patch=32, patches_per_image=2,
                       model_options={'width': 8})


def test_resumed_run_equals_uninterrupted_run(pair_set, tmp_path):
    full = train(_config(pair_set, tmp_path / 'a', 2), progress=False, log=lambda _: None)
    assert full['epochs'] == 2
    for name in ('last.pt', 'weights.pt', 'history.csv', 'loss.png', 'summary.json'):
        assert (tmp_path / 'a' / name).exists()
    train(_config(pair_set, tmp_path / 'b', 1), progress=False, log=lambda _: None)
    resumed = train(_config(pair_set, tmp_path / 'b', 2), resume=True, progress=False,
                    log=lambda _: None)
    assert resumed['epochs'] == 2
    a = torch.load(tmp_path / 'a' / 'weights.pt', weights_only=True)
    b = torch.load(tmp_path / 'b' / 'weights.pt', weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    ckpt = torch.load(tmp_path / 'a' / 'last.pt', weights_only=True)
    assert ckpt['epoch'] == 2 and len(ckpt['history']) == 2


def test_refusals(pair_set, tmp_path):
    with pytest.raises(ConfigError, match='evaluation set'):
        train(TrainConfig(model='fastfusion', data=[str(pair_set)], out=str(tmp_path / 'x'),
                          epochs=1, exclude=[str(pair_set)]), progress=False)
    with pytest.raises(ConfigError, match='no training recipe'):
        train(TrainConfig(model='max', data=[str(pair_set)], out=str(tmp_path / 'y')),
              progress=False)

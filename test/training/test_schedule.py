# SPDX-License-Identifier: Apache-2.0
"""Learning-rate schedules (a function of the step) and gradient-norm clipping (issue 35)."""

import csv
import math

import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.training.config import load_train_config
from fusion_ros.training.schedule import lr_factor
from fusion_ros.training.trainer import train

from .conftest import write_pair_set


def test_step_schedule_is_what_multisteplr_stepped_per_epoch_gave():
    config = load_train_config('fastfusion', milestones=[2, 4], gamma=0.5, lr=1.0)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    reference = torch.optim.lr_scheduler.MultiStepLR(optimizer, [2, 4], 0.5)
    per_epoch = 3
    for step in range(6 * per_epoch):
        assert lr_factor(config, step, per_epoch, 100) == optimizer.param_groups[0]['lr']
        if (step + 1) % per_epoch == 0:
            optimizer.step()
            reference.step()


def test_cosine_with_warm_up():
    config = load_train_config('fastfusion', schedule='cosine', lr_floor=0.1, warmup_steps=4)
    factors = [lr_factor(config, s, 10, 100) for s in range(101)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0], abs=2e-3)  # warm-up x ~1
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))  # then only down
    assert factors[50] == pytest.approx(0.1 + 0.9 * 0.5)
    assert factors[100] == pytest.approx(0.1)
    with pytest.raises(ConfigError, match='schedule'):
        load_train_config('fastfusion', schedule='linear')
    with pytest.raises(ConfigError, match='grad_clip'):
        load_train_config('fastfusion', grad_clip=-1.0)


def test_gradient_clipping_bounds_the_norm_and_logs_it(tmp_path):
    data = write_pair_set(tmp_path / 'set')
    config = load_train_config(
        'fastfusion', data=[str(data)], out=str(tmp_path / 'run'), batch=2, patch=32,
        patches_per_image=2, model_options={'width': 8}, val_fraction=0.25, device='cpu',
        steps=3, grad_clip=1e-3, schedule='cosine', warmup_steps=2, lr=1e-2)
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, **kwargs):
        params = list(params)
        before = original(params, max_norm, **kwargs)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        norms.append((float(before), float(after)))
        return before

    torch.nn.utils.clip_grad_norm_ = spy
    try:
        train(config, progress=False, log=lambda _: None)
    finally:
        torch.nn.utils.clip_grad_norm_ = original
    assert len(norms) == 3
    assert all(before > 1e-3 and after <= 1e-3 * 1.01 for before, after in norms)
    with open(tmp_path / 'run' / 'log.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    logged = [float(r['grad_norm']) for r in rows]
    assert logged == pytest.approx([b for b, _ in norms], rel=1e-4)
    # the rate the rows record is the schedule's: warm-up, then cosine decay
    want = [1e-2 * lr_factor(config, s, 3, 3) for s in range(3)]
    assert [float(r['lr']) for r in rows] == pytest.approx(want, rel=1e-5)
    assert math.isclose(want[0], 5e-3)

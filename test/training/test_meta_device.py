# SPDX-License-Identifier: Apache-2.0
"""Every model and every training objective on PyTorch's ``meta`` device (shapes only, no
data): a tensor made on the CPU inside a step (the DFVO ``fusion_scale`` bug that crashed the
first CUDA step), a host read-back (``.item()``, ``if t.any()``: a GPU sync every step) or a
kernel that drops channels_last all fail here exactly as they would on a GPU, without one."""

import pytest
import torch
from torch import nn

from fusion_ros.models import build_model, list_models
from fusion_ros.models._base import ReflectionPad
from fusion_ros.training.config import load_train_config
from fusion_ros.training.objectives import OBJECTIVES, build_objective

META = torch.device('meta')
SETTINGS = {'piafusion': {'illumination': 'labels'}}


@pytest.mark.parametrize('name', sorted(OBJECTIVES))
def test_a_training_step_stays_on_the_device(name):
    cfg = load_train_config(name)
    objective = build_objective(name, cfg.model_options, cfg.loss,
                                {**cfg.settings, **SETTINGS.get(name, {})})
    objective = objective.to(META).train()
    objective.epoch = 3
    ir, rgb = torch.rand(2, 1, 64, 64, device=META), torch.rand(2, 3, 64, 64, device=META)
    day = torch.tensor([1.0, float('nan')]).to(META)  # one labelled patch, one estimated
    terms = objective(ir, rgb, day)
    terms['total'].backward()
    # what the trainer does with the terms: one stack on the device (a CPU scalar fails)
    stacked = torch.stack([t.detach().float().reshape(()) for t in terms.values()])
    assert stacked.device == META
    grads = [p.grad for p in objective.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.device == META for g in grads if g is not None)


def test_dfvo_second_stage_settings_stay_on_the_device():
    cfg = load_train_config('dfvo')
    objective = build_objective('dfvo', cfg.model_options, {**cfg.loss, 'enhance': 50.0},
                                {'enhance_target': 'histeq', 'fusion_start': 5.0}).to(META)
    terms = objective(torch.rand(1, 1, 64, 64, device=META),
                      torch.rand(1, 3, 64, 64, device=META), torch.zeros(1, device=META))
    terms['total'].backward()
    assert terms['enhance'].device == META and terms['fusion_scale'].device == META


@pytest.mark.parametrize('name', list_models())
def test_inference_stays_on_the_device(name):
    model = build_model(name, pretrained=False).to(META).to(memory_format=torch.channels_last)
    x = torch.rand(1, 1, 64, 80, device=META).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = model(x, x.clone())
    assert out.fused.device == META and out.fused.shape == (1, 1, 64, 80)
    if out.enhanced is not None:
        assert out.enhanced.device == META


def test_reflection_padding_keeps_channels_last_where_the_kernel_does_not():
    # meta's reflection pad, like CUDA's, returns NCHW; the CPU kernel keeps the layout
    x = torch.rand(1, 16, 8, 8, device=META).contiguous(memory_format=torch.channels_last)
    assert not nn.ReflectionPad2d(1)(x).is_contiguous(memory_format=torch.channels_last)
    assert ReflectionPad(1)(x).is_contiguous(memory_format=torch.channels_last)
    nchw = torch.rand(1, 16, 8, 8, device=META)
    assert ReflectionPad(1)(nchw).is_contiguous()  # NCHW in, NCHW out
    cpu = torch.rand(1, 16, 8, 8)
    assert torch.equal(ReflectionPad(2)(cpu), nn.ReflectionPad2d(2)(cpu))
    # every reflect-padded model uses it (a plain one would undo channels_last on a GPU)
    for name in list_models():
        plain = [m for m in build_model(name, pretrained=False).modules()
                 if type(m) is nn.ReflectionPad2d]
        assert not plain, f'{name}: {len(plain)} nn.ReflectionPad2d'

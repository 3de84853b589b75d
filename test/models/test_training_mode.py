# SPDX-License-Identifier: Apache-2.0
"""Every learned model: gradients reach every parameter, outputs are deterministic."""

import pytest
import torch

from fusion_ros.models import build_model

LEARNED = [('didfuse', {}), ('piafusion', {'flavour': 'tf'}), ('piafusion', {'flavour': 'port'}),
           ('dfvo', {'variant': 'inference'})]


@pytest.mark.parametrize(('name', 'options'), LEARNED)
def test_gradients_reach_every_parameter(name, options):
    torch.manual_seed(0)
    model = build_model(name, pretrained=False, **options).train()
    if name == 'dfvo':
        # the authors' Sobel init makes the unscaled attention logits huge, so softmax starts
        # saturated (zero gradient, faithfully); shrink it to see the graph is connected
        with torch.no_grad():
            for n, p in model.CSA.named_parameters():
                if 'SK_conv' in n or 'SQ_conv' in n:
                    p.mul_(1e-3)
    ir, vi = torch.rand(2, 1, 16, 20), torch.rand(2, 1, 16, 20)
    model(ir, vi).fused.square().mean().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    # a key bias shifts every logit of a query equally: softmax ignores it (zero gradient)
    dead = [n for n, p in model.named_parameters()
            if not p.grad.any() and not n.endswith('SK_conv.Conv.bias')]
    assert dead == []


def test_dfvo_full_heads_all_train():
    torch.manual_seed(0)
    model = build_model('dfvo', variant='full').train()
    out, extras = model.forward_all(torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16))
    loss = out.fused.mean() + out.enhanced.mean() + sum(v.mean() for v in extras.values())
    loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize(('name', 'options'), LEARNED)
def test_deterministic(name, options):
    torch.manual_seed(3)
    a = build_model(name, **options)
    torch.manual_seed(3)
    b = build_model(name, **options)
    x, y = torch.rand(1, 1, 12, 16), torch.rand(1, 1, 12, 16)
    with torch.inference_mode():
        assert torch.equal(a(x, y).fused, a(x, y).fused)
        assert torch.equal(a(x, y).fused, b(x, y).fused)

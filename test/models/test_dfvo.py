# SPDX-License-Identifier: Apache-2.0
"""DFVO: structure, official layouts, attention forms, strip inference, the IR-detail fix."""

import json

import pytest
import torch

from fusion_ros.errors import ShapeError, WeightsError
from fusion_ros.models import build_model
from fusion_ros.models import dfvo_parts as dfvo_module
from fusion_ros.models.dfvo import DFVO, fill_odd_lattice, hcam_attention


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=gen) - 0.5)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
    return model


def test_parameter_counts_match_the_authors_modules():
    assert DFVO('inference').num_params() == 9_720_449
    assert DFVO('full').num_params() == 10_105_316


@pytest.mark.parametrize('n', [7, 64, 300])
def test_attention_forms_agree(monkeypatch, n):
    gen = torch.Generator().manual_seed(n)
    q, k = torch.randn(2, n, 32, generator=gen), torch.randn(2, n, 32, generator=gen)
    v = torch.randn(2, n, 40, generator=gen)
    dense = hcam_attention(q, k, v, 'dense')
    monkeypatch.setattr(dfvo_module, '_SCORE_BUDGET', 5 * n)  # 5-query chunks
    assert (hcam_attention(q, k, v, 'chunked') - dense).abs().max() <= 1e-4
    assert (hcam_attention(q, k, v, 'sdpa') - dense).abs().max() <= 1e-4
    # unscaled logits, as the authors: differs from the 1/sqrt(d) convention
    scaled = torch.softmax(q @ k.transpose(1, 2) / 32 ** 0.5, -1) @ v
    assert (scaled - dense).abs().max() > 1e-3


@pytest.mark.parametrize('variant,upsample', [('inference', 'official'), ('full', 'official'),
                                              ('inference', 'filled'), ('full', 'filled'),
                                              ('inference', 'none')])
def test_strip_inference_equals_plain_forward(monkeypatch, variant, upsample):
    monkeypatch.setattr(dfvo_module, '_SCORE_BUDGET', 64)  # chunked attention too
    torch.manual_seed(0)
    model = _randomise_bn(DFVO(variant, strip_rows=5, upsample=upsample)).eval()
    ir, vi = torch.rand(1, 1, 44, 28), torch.rand(1, 1, 44, 28)
    with torch.no_grad():
        plain, extras = model.forward_all(ir, vi)
        model.CSA.attention = 'dense'
        dense, _ = model.forward_all(ir, vi)
        model.CSA.attention = 'chunked'
    with torch.inference_mode():
        strips = model(ir, vi)
    assert (strips.fused - plain.fused).abs().max() <= 1e-5
    assert (dense.fused - plain.fused).abs().max() <= 1e-4
    if variant == 'full':
        assert (strips.enhanced - plain.enhanced).abs().max() <= 1e-5
        assert extras['illumination'].shape == extras['ir_reconstructed'].shape == ir.shape
    else:
        assert strips.enhanced is None and extras == {}


def test_hcam_up_convolutions_leave_a_grid_that_filled_closes():
    torch.manual_seed(0)
    model = DFVO()
    x = torch.rand(1, 256, 6, 5)
    with torch.no_grad():
        up = model.ViUpConv(x) - model.ViUpConv.bias.view(1, -1, 1, 1)
    assert up.shape[-2:] == (24, 20)
    # the authors' layer writes odd rows and columns only: 3 pixels in 4 get the bias alone
    assert up[..., 0::2, :].abs().max() == 0 and up[..., :, 0::2].abs().max() == 0
    assert up[..., 1::2, 1::2].abs().min() > 0
    filled = fill_odd_lattice(up)
    assert torch.equal(filled[..., 1::2, 1::2], up[..., 1::2, 1::2])  # kept where written
    # a gap between two written pixels is their mean; the first row/column copy the next
    torch.testing.assert_close(filled[..., 2, 3], (up[..., 1, 3] + up[..., 3, 3]) / 2)
    torch.testing.assert_close(filled[..., 4, 6], (up[..., 3, 5] + up[..., 3, 7] +
                                                    up[..., 5, 5] + up[..., 5, 7]) / 4)
    torch.testing.assert_close(filled[..., 0, :], filled[..., 1, :])
    ramp = torch.arange(24.0).view(1, 1, 24, 1).expand(1, 1, 24, 20)
    torch.testing.assert_close(fill_odd_lattice(ramp)[..., 1:, :], ramp[..., 1:, :])
    with pytest.raises(ValueError, match='upsample'):
        DFVO(upsample='nearest')


def test_the_authors_stretch_maps_each_fused_image_onto_the_full_range():
    torch.manual_seed(0)
    plain = DFVO().eval()
    stretched = DFVO(stretch=True).eval()
    stretched.load_state_dict(plain.state_dict())
    ir, vi = torch.rand(2, 1, 16, 20), torch.rand(2, 1, 16, 20)
    with torch.no_grad():
        a, b = plain(ir, vi).fused, stretched(ir, vi).fused
    for i in range(2):  # per image, linear: the order of the pixels kept
        assert float(b[i].min()) == 0.0 and float(b[i].max()) == pytest.approx(1.0)
        want = (a[i] - a[i].min()) / (a[i].max() - a[i].min())
        torch.testing.assert_close(b[i], want)
    assert DFVO().stretch is False  # what the node runs


def test_ir_detail_fix_and_bug_reproduction():
    torch.manual_seed(0)
    fixed = DFVO('full', fix_ir_detail=True).train()
    buggy = DFVO('full', fix_ir_detail=False).train()
    buggy.load_state_dict(fixed.state_dict())
    ir, vi = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    out, extras = buggy.forward_all(ir, vi)
    (out.fused.mean() + out.enhanced.mean() + extras['ir_reconstructed'].mean()).backward()
    assert buggy.IrDeConv.weight.grad is None  # the authors' code never uses IrDeConv
    # every trainable parameter gets a gradient (what DDP waits for): the unused one is frozen
    extras['illumination'].mean().backward()  # the full model's last output
    assert [n for n, p in buggy.named_parameters() if p.requires_grad and p.grad is None] == []
    assert not buggy.IrDeConv.weight.requires_grad and 'IrDeConv.weight' in buggy.state_dict()
    out, extras = fixed.forward_all(ir, vi)
    (out.fused.mean() + out.enhanced.mean() + extras['ir_reconstructed'].mean()).backward()
    assert fixed.IrDeConv.weight.grad is not None and fixed.IrDeConv.weight.grad.abs().sum() > 0


def test_bad_inputs_give_clear_errors():
    model = DFVO().eval()
    with pytest.raises(ShapeError, match='multiples of 4'):
        model(torch.rand(1, 1, 10, 12), torch.rand(1, 1, 10, 12))
    with pytest.raises(ShapeError):
        model(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 12))
    with pytest.raises(ShapeError):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8))


@pytest.mark.shared
def test_official_layouts_load_strictly(shared_dir, tmp_path):
    shapes = json.loads((shared_dir / 'data' / 'reference' / 'dfvo' /
                         'official_state_dict_shapes.json').read_text())
    gen = torch.Generator().manual_seed(0)
    paths = {}
    for cls, layout in shapes.items():
        state = {k: (torch.randint(0, 9, v, generator=gen) if k.endswith('num_batches_tracked')
                     else torch.rand(v, generator=gen)) for k, v in layout.items()}
        paths[cls] = tmp_path / f'{cls}.pth'
        torch.save({'model': state, 'epoch': 3}, paths[cls])  # the authors' wrapping
    full = build_model('dfvo', variant='full', weights=paths['DFLONet'],
                       weights_format='dfvo-official')
    simple = build_model('dfvo', weights=paths['SimplifiedModel'])
    also = build_model('dfvo', weights=paths['DFLONet'])  # inference drops training heads
    # the filled up-convolutions keep the official layout (strict load)
    filled = build_model('dfvo', variant='full', weights=paths['DFLONet'], upsample='filled')
    torch.testing.assert_close(filled.ViUpConv.weight, full.ViUpConv.weight)
    assert set(simple.state_dict()) == set(shapes['SimplifiedModel'])
    assert set(full.state_dict()) == set(shapes['DFLONet'])
    torch.testing.assert_close(also.FuSigmoid.Conv.weight, full.FuSigmoid.Conv.weight)
    with pytest.raises(WeightsError, match="variant='inference'"):
        build_model('dfvo', variant='full', weights=paths['SimplifiedModel'])


def test_shipped_file_is_the_full_model_in_fp16_and_loads_into_both_variants():
    from fusion_ros.models._builder import read_checkpoint
    from fusion_ros.resources import share_file

    path = share_file('models/dfvo.pt')
    assert path.stat().st_size <= 25e6  # the issue-16 limit
    state, meta = read_checkpoint(path)
    assert state['ViEncode1.Conv.weight'].dtype == torch.float16
    assert meta['model_name'] == 'dfvo' and any(k.startswith('EnDecode') for k in state)
    inference = build_model('dfvo')  # no weights given: the shipped file, heads dropped
    full = build_model('dfvo', variant='full')  # the same file, enhancement head kept
    assert next(inference.parameters()).dtype == torch.float32
    ir, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32) * 0.2  # a dark visible image
    with torch.no_grad():
        a, b = inference(ir, y), full(ir, y)
    assert a.enhanced is None and torch.allclose(a.fused, b.fused, atol=1e-5)
    assert float(b.enhanced.mean()) > float(y.mean())  # the trained head brightens the dark

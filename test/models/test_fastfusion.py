# SPDX-License-Identifier: Apache-2.0
"""FastFusion: the per-pixel fusion formula, outputs, shipped weights, engine default."""

import pytest
import torch

from fusion_ros.errors import ShapeError
from fusion_ros.models import build_model
from fusion_ros.models.fastfusion import FastFusion
from fusion_ros.ops.filters import box_blur
from test.lowlight import night_frame, noise


def test_priors_soft_max_bases_and_choose_the_stronger_detail():
    model = FastFusion(detail_sharpness=1e4).eval()
    with torch.no_grad():
        model.maps.weight.zero_()  # maps = their biases: offset 0, gain 1.45, curve 0
    ir = torch.rand(1, 1, 32, 24) * 0.2 + 0.4  # weak texture
    y = (torch.rand(1, 1, 32, 24) > 0.5).float()  # strong texture
    out = model(ir, y)
    ir_b, y_b = box_blur(ir, 2), box_blur(y, 2)
    w = torch.sigmoid(20 * (ir_b - y_b))
    gain = 1.3 + 0.9 * torch.sigmoid(model.maps.bias[1])  # floor 1.3 + 0.15
    expected = w * ir_b + (1 - w) * y_b + gain * (y - y_b) + 0.3 * (ir - ir_b)
    torch.testing.assert_close(out.fused, expected.clamp(0, 1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.enhanced, y)  # curve parameter 0 = identity
    assert out.day_probability.shape == (1,)


def test_base_share_is_the_thermal_weight_of_the_fused_base_and_only_when_asked():
    model = FastFusion().eval()
    with torch.no_grad():
        model.maps.weight.zero_()
        model.maps.bias[0] = -2.0  # an offset towards the visible base
    ir, y = torch.rand(2, 1, 24, 32), torch.rand(2, 1, 24, 32) * 0.3
    with torch.no_grad():
        assert model(ir, y).base_share is None
        model.return_base_share = True
        out = model(ir, y)
        flat = model(torch.full_like(ir, 0.6), torch.full_like(y, 0.4))
    expected = torch.sigmoid(-2.0 + 20 * (box_blur(ir, 2) - box_blur(y, 2)))
    torch.testing.assert_close(out.base_share, expected, atol=1e-6, rtol=0)
    # flat sources: no detail, so the fused image is the base, mixed at that share
    share = torch.sigmoid(torch.tensor(-2.0 + 20 * 0.2)).item()
    torch.testing.assert_close(flat.base_share, torch.full_like(ir, share))
    torch.testing.assert_close(flat.fused, torch.full_like(ir, 0.4 + 0.2 * share))


def test_base_offset_starts_a_new_model_leaning_to_the_thermal_base_and_weights_replace_it():
    # flat images: no detail, so the fused image is the bases' mix alone
    ir, vi = torch.full((1, 1, 16, 16), 0.5), torch.full((1, 1, 16, 16), 0.6)
    plain = FastFusion().eval()
    leaning = FastFusion(base_offset=10.0).eval()
    with torch.no_grad():
        assert plain(ir, vi).fused.mean() > 0.58  # the brighter (visible) base
        assert leaning(ir, vi).fused.mean() < 0.51  # the thermal base unless VI is far brighter
        leaning.load_state_dict(plain.state_dict())
        assert torch.equal(leaning(ir, vi).fused, plain(ir, vi).fused)


def test_mid_band_chooses_the_coarser_detail_by_energy_and_mix_zero_is_the_plain_model():
    torch.manual_seed(0)
    plain = FastFusion().eval()
    ir = torch.rand(1, 1, 64, 64) * 0.1 + 0.6  # bright, flat: wins the base
    y = torch.zeros(1, 1, 64, 64)
    y[..., 16:48, 16:48] = 0.3  # dim, but a 32 px square: mid-band structure
    with torch.no_grad():
        base = plain(ir, y).fused
        for mix in (0.0, 1.0):
            banded = FastFusion(mid_band=4, mid_mix=mix)
            banded.load_state_dict(plain.state_dict())  # no parameters of its own
            out = banded.eval()(ir, y).fused
            if mix == 0.0:  # the same numbers: the mid band chosen as the base is
                torch.testing.assert_close(out, base, atol=1e-5, rtol=0)
            else:  # the square's edge (column 16) comes through: the plain model loses it
                edge = lambda f: (f[..., 20:44, 18] - f[..., 20:44, 13]).mean()  # noqa: E731
                assert float(edge(out)) > float(edge(base)) + 0.03


def test_learned_mid_band_mix_starts_at_the_fixed_mix_and_trains():
    with pytest.raises(ValueError, match='mid_band'):
        FastFusion(learn_mix=True)
    torch.manual_seed(1)
    fixed = FastFusion(mid_band=2, mid_mix=0.25).eval()
    learned = FastFusion(mid_band=2, mid_mix=0.25, learn_mix=True)
    missing = learned.load_state_dict(fixed.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ['mix.bias', 'mix.weight']  # shipped files without it refuse
    with torch.no_grad():
        learned.mix.weight.zero_()
    ir, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(learned.eval()(ir, y).fused, fixed(ir, y).fused)
    learned.train()(ir, y).fused.mean().backward()
    assert learned.mix.bias.grad is not None and float(learned.mix.bias.grad.abs()) > 0


def test_detail_gain_floor_raises_the_kept_detail_with_the_same_weights():
    torch.manual_seed(3)
    low, high = FastFusion(detail_gain_floor=1.1).eval(), FastFusion().eval()
    assert high.detail_gain_floor == 1.3  # the shipped file was trained with it
    high.load_state_dict(low.state_dict(), strict=True)  # a constant: no parameter of its own
    ir = torch.full((1, 1, 32, 32), 0.5)
    y = 0.5 + 0.1 * torch.sin(torch.arange(32.0) / 2).expand(1, 1, 32, 32)  # detail: visible
    with torch.no_grad():
        a, b = low(ir, y).fused, high(ir, y).fused
    # the same fused image up to the detail term: 0.2 more gain on the stronger detail
    ratio = (b - b.mean()).std() / (a - a.mean()).std()
    assert 1.05 < float(ratio) < 1.25, float(ratio)


def test_box_blur_keeps_constants_at_borders_and_equals_the_2d_window():
    x = torch.full((1, 1, 7, 9), 0.3)
    torch.testing.assert_close(box_blur(x, 2), x)
    x = torch.rand(2, 3, 11, 13)
    window = torch.nn.functional.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
    torch.testing.assert_close(box_blur(x, 2), window)


def test_size_rules_and_options():
    with pytest.raises(ShapeError, match='multiples of 4'):
        FastFusion()(torch.rand(1, 1, 10, 12), torch.rand(1, 1, 10, 12))
    assert FastFusion(scale=2).size_multiple == 2
    with pytest.raises(ValueError):
        FastFusion(width=0)


def test_shipped_weights_load_by_default():
    model = build_model('fastfusion')
    assert model.weights_source is not None and model.weights_source.endswith('fastfusion.pt')
    assert build_model('fastfusion', pretrained=False).weights_source is None
    size = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    assert size < 5 * 2**20


def test_engine_and_node_default_is_fastfusion():
    from fusion_ros.engine import DEFAULT_MODEL, FusionEngine
    from fusion_ros.ros.fusion_params import PARAMS

    assert DEFAULT_MODEL == 'fastfusion'
    assert {p.name: p.default for p in PARAMS}['model'] == 'fastfusion'
    engine = FusionEngine()
    assert engine.model_name == 'fastfusion' and engine.model.weights_source


def test_bf16_channels_last_training_gives_finite_gradients():
    """oneDNN's backward of dilated convolutions in bf16 channels_last returns NaN now and
    then (a training run died in validation with NaN day probabilities; before the fix this
    test failed in its first steps): while gradients are recorded the dilated convs run
    NCHW, computing the same block as the channels_last inference path."""
    torch.manual_seed(0)
    model = FastFusion().to(memory_format=torch.channels_last).train()
    for _ in range(24):  # the trainer's shapes: a batch of 128 px crops, bf16 autocast
        ir, y = (torch.rand(8, 1, 128, 128).contiguous(memory_format=torch.channels_last)
                 for _ in range(2))
        model.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(ir, y)
            loss = sum(t.float().mean() for t in (out.fused, out.enhanced,
                                                   out.day_probability))
        loss.backward()
        bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
        assert not bad, f'non-finite gradients in {bad}'
    block = model.blocks[3]  # dilation 8
    x = torch.rand(2, 24, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fast = block(x)
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(block(x), fast, atol=1e-5)


def test_the_shipped_light_curve_lifts_a_night_frame_without_its_noise():
    """The trained curve's slope at a dark pixel reaches 16: on the raw luminance it made
    LLVIP's night frames 4x noisier. Smoothed first, in proportion to the lift."""
    model = build_model('fastfusion')  # the shipped weights
    model.return_enhanced = True
    grey = night_frame()
    y = torch.from_numpy(grey.astype('float32') / 255)[None, None]
    ir = torch.full_like(y, 0.5)

    def enhanced(denoise: bool):
        model.denoise_enhanced = denoise
        with torch.no_grad():
            out = model(ir, y).enhanced[0, 0].numpy()
        return (out * 255).round().astype('uint8')

    raw, smoothed = enhanced(False), enhanced(True)
    assert smoothed.mean() > 2.5 * grey.mean()
    assert abs(float(smoothed.mean()) - float(raw.mean())) < 3.0  # the same curve
    assert noise(raw) > 2 * noise(grey)
    assert noise(smoothed) < 0.6 * noise(raw)
    # the lamp's edge stays
    assert smoothed[50, 44].astype(int) - smoothed[50, 36] > 0.8 * (raw[50, 44].astype(int)
                                                                     - raw[50, 36])


@pytest.mark.parametrize('options', [{}, {'mid_band': 4, 'learn_mix': True}])
def test_inference_path_equals_the_training_forward(options):
    """At inference the box blurs run in OpenCV (no gradient to keep); while training they
    are torch ops. Both forwards give the same images and day probability."""
    torch.manual_seed(0)
    model = build_model('fastfusion', **options).eval()
    ir, vi = torch.rand(2, 1, 64, 96), torch.rand(2, 1, 64, 96)
    with torch.inference_mode():
        fast = model(ir, vi)
    slow = model(ir.clone().requires_grad_(True), vi.clone().requires_grad_(True))
    for a, b in ((fast.fused, slow.fused), (fast.enhanced, slow.enhanced),
                 (fast.day_probability, slow.day_probability)):
        assert torch.allclose(a, b.detach(), atol=1e-5)


def test_the_dilation_8_conv_runs_shifted_with_the_convs_numbers(monkeypatch):
    """Eager fp32 on the CPU swaps oneDNN's slow dilation-8 kernel for shifted
    multiply-adds, in inference and in training (whose dilated convs run in fp32 even under
    bf16 autocast); bf16 inference and the ONNX export keep the convolution."""
    import fusion_ros.models.fastfusion as ff

    model = build_model('fastfusion').eval()
    calls = []
    real = ff.depthwise3x3_shifted
    monkeypatch.setattr(ff, 'depthwise3x3_shifted', lambda *a: calls.append(a[3]) or real(*a))
    ir, y = torch.rand(2, 1, 64, 88), torch.rand(2, 1, 64, 88)
    with torch.no_grad():
        got = model(ir, y)
    assert calls == [8]  # the one block that needs it
    calls.clear()
    monkeypatch.setattr(ff, '_SHIFTED_FROM_DILATION', 10**6)
    with torch.no_grad():
        want = model(ir, y)
    for a, b in ((got.fused, want.fused), (got.enhanced, want.enhanced),
                 (got.day_probability, want.day_probability)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    model.train()
    grads = {}
    for shifted_from in (8, 10**6):
        monkeypatch.setattr(ff, '_SHIFTED_FROM_DILATION', shifted_from)
        model.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16):  # the trainer's auto on bf16 CPUs
            out = model(ir, y)
        (out.fused.float().mean() + out.enhanced.float().mean()).backward()
        grads[shifted_from] = model.blocks[3].dw.weight.grad.clone()
    torch.testing.assert_close(grads[8], grads[10**6], atol=1e-5, rtol=1e-3)
    assert calls == [8]  # training under autocast: shifted, in the fp32 guard
    model.eval()
    monkeypatch.setattr(ff, '_SHIFTED_FROM_DILATION', 8)
    calls.clear()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        model(ir.bfloat16(), y.bfloat16())
    assert calls == []  # bf16 inference: oneDNN's bf16 kernel


def test_the_onnx_export_keeps_the_dilated_convolution(tmp_path):
    pytest.importorskip('onnx')
    import onnx

    from fusion_ros.engine.runtimes import export_onnx

    path = tmp_path / 'ff.onnx'
    # (the shipped file's radius follows the frame size: a dynamic graph needs it fixed)
    export_onnx(build_model('fastfusion', radius_reference=0).eval(), path, enhanced=True)
    dilations = [list(a.ints) for n in onnx.load(str(path)).graph.node if n.op_type == 'Conv'
                 for a in n.attribute if a.name == 'dilations']
    assert [8, 8] in dilations


def test_the_base_radius_follows_the_frame_size_above_the_reference():
    """radius_reference: frames with a short side above it get a proportionally wider
    base/detail split (the same share of the scene on a camera with more pixels)."""
    grown = FastFusion(radius_reference=32).eval()
    assert [grown.radius_for(h, w) for h, w in ((16, 24), (32, 40), (64, 96), (100, 80))] \
        == [2, 2, 4, 5]  # never below blur_radius; round(2 x short side / 32) above it
    assert FastFusion().eval().radius_for(1024, 1280) == 2  # 0: one radius at every size
    assert FastFusion(radius_reference=320).radius_for(1024, 1280) == 6  # LLVIP's frames
    fixed = FastFusion(blur_radius=4).eval()
    plain = FastFusion().eval()
    fixed.load_state_dict(grown.state_dict())
    plain.load_state_dict(grown.state_dict())
    gen = torch.Generator().manual_seed(3)
    ir, y = torch.rand(1, 1, 64, 96, generator=gen), torch.rand(1, 1, 64, 96, generator=gen)
    with torch.no_grad():
        out, want, trained = grown(ir, y), fixed(ir, y), plain(ir, y)
        small = grown(ir[..., :32, :40], y[..., :32, :40])
        small_plain = plain(ir[..., :32, :40], y[..., :32, :40])
    torch.testing.assert_close(out.fused, want.fused)  # radius 4 at 64x96
    assert (out.fused - trained.fused).abs().max() > 1e-3  # and not the trained radius
    torch.testing.assert_close(small.fused, small_plain.fused)  # at the reference: unchanged


def test_the_shipped_file_carries_its_radius_reference_beneath_the_asked_options():
    assert build_model('fastfusion').radius_reference == 320
    assert build_model('fastfusion', weights='models/fastfusion.pt').radius_reference == 320
    assert build_model('fastfusion', radius_reference=0).radius_reference == 0
    assert build_model('fastfusion', pretrained=False).radius_reference == 0

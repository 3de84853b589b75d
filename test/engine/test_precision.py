# SPDX-License-Identifier: Apache-2.0
"""precision auto: what it resolves to, and that reduced precision stays faithful.

The accuracy tests run bf16 explicitly (what ``auto`` resolves to on CPUs with AMX) so they
also run on CPUs where ``auto`` stays fp32.
"""

import json

import cv2
import numpy as np
import pytest
import torch

from fusion_ros.engine import FusionEngine
from fusion_ros.engine import precision as P
from fusion_ros.errors import ConfigError
from fusion_ros.models import build_model
from test.windows import centre_window

CPU = torch.device('cpu')


@pytest.fixture
def native_bf16(monkeypatch):
    """``native_bf16(avx512_bf16, amx=avx512_bf16)``: what this CPU is said to have."""
    def set_native(value: bool, amx: bool | None = None) -> None:
        monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: value)
        monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported',
                            lambda: value if amx is None else amx)
    return set_native


def test_auto_on_cpu_is_bf16_with_amx_only(native_bf16):
    native_bf16(True)
    got = P.resolve_precision('auto', CPU)
    assert (got.name, got.channels_last, got.dtype) == ('bf16', True, torch.bfloat16)
    assert got.describe() == 'bf16 channels_last (auto)'
    # AVX512-BF16 without AMX (AMD EPYC, some Xeons): native, but slower than fp32 there
    native_bf16(True, amx=False)
    got = P.resolve_precision('auto', CPU)
    assert (got.name, got.channels_last, got.describe()) == ('fp32', False, 'fp32 (auto)')
    assert not P.resolve_precision('bf16', CPU).emulated  # asked: native, not emulated
    native_bf16(False)
    got = P.resolve_precision('auto', CPU)
    assert (got.name, got.channels_last, got.describe()) == ('fp32', False, 'fp32 (auto)')


def test_auto_keeps_fp32_for_models_that_do_not_gain(native_bf16):
    native_bf16(True)
    assert P.resolve_precision('auto', CPU, model_gains=False).name == 'fp32'
    assert FusionEngine('max', precision='auto').precision == 'fp32'
    # torch's own precision choice (backend auto would hand PIAFusion to OpenVINO here)
    engine = FusionEngine('piafusion', precision='auto', random_init=True, backend='torch')
    assert (engine.precision, engine.channels_last) == ('bf16', True)
    assert 'bf16 channels_last (auto)' in engine.describe()
    # FastFusion gains from bf16 on a GPU only: on the CPU auto keeps fp32 (measured faster)
    engine = FusionEngine('fastfusion', precision='auto')
    assert (engine.precision, engine.channels_last) == ('fp32', False)
    assert 'fp32 (auto)' in engine.describe()
    assert P.model_gains(engine.model, torch.device('cuda'))
    assert not P.model_gains(engine.model, CPU)
    assert FusionEngine('fastfusion', precision='bf16').precision == 'bf16'  # asked: given


def test_auto_on_cuda_prefers_bf16_then_fp16(monkeypatch):
    cuda = torch.device('cuda')
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: True)
    assert P.resolve_precision('auto', cuda).name == 'bf16'
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: False)
    assert P.resolve_precision('auto', cuda).describe() == 'fp16 channels_last (auto)'


def test_explicit_bf16_on_a_cpu_without_native_bf16_says_it_is_emulated(native_bf16):
    native_bf16(False)
    got = P.resolve_precision('bf16', CPU)
    assert got.name == 'bf16' and got.emulated  # asked: given, and said to be slow
    assert got.describe().startswith('bf16 channels_last (emulated')
    assert 'emulated' in FusionEngine('fastfusion', precision='bf16').describe()
    native_bf16(True)
    assert not P.resolve_precision('bf16', CPU).emulated
    assert P.resolve_precision('bf16', CPU).describe() == 'bf16 channels_last'


def test_explicit_names_mean_exactly_that():
    assert P.resolve_precision('fp32', CPU).describe() == 'fp32'
    assert P.resolve_precision('bf16', CPU, model_gains=False).name == 'bf16'
    assert not P.resolve_precision('bf16', CPU, channels_last=False).channels_last
    with pytest.raises(ConfigError, match='fp16 needs a CUDA'):
        P.resolve_precision('fp16', CPU)
    with pytest.raises(ConfigError, match='unknown precision'):
        FusionEngine('max', precision='int8')


def test_compile_failure_falls_back_to_eager_with_the_reason(monkeypatch):
    rng = np.random.default_rng(0)
    ir, vi = rng.integers(0, 256, (32, 48), np.uint8), rng.integers(0, 256, (32, 48, 3), np.uint8)
    eager = FusionEngine('laplacian').fuse(ir, vi).fused

    def broken(model):
        def run(*args):
            raise RuntimeError('no C++ compiler found')
        return run

    monkeypatch.setattr(torch, 'compile', broken)
    engine = FusionEngine('laplacian', compile=True)
    assert engine.compiled
    engine.warmup(48, 32)  # compilation fails here, not on a live frame
    assert not engine.compiled and 'no C++ compiler found' in engine.compile_error
    assert 'eager' in engine.describe()
    np.testing.assert_array_equal(engine.fuse(ir, vi).fused, eager)


def _grey(path):
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


@pytest.mark.shared
@pytest.mark.parametrize('backend', ['torch', pytest.param('openvino',
                                                          marks=pytest.mark.openvino)])
def test_didfuse_bf16_stays_close_to_the_authors_outputs(shared_dir, backend):
    """Every 8th of the 40 TNO pairs (the suite's time): mean difference over the set
    <= 0.5 grey levels, no pixel off by more than 4, no single image's mean above 0.75; in
    torch and in OpenVINO."""
    from fusion_ros.engine.runtimes import runtime_missing

    if backend != 'torch' and (missing := runtime_missing(backend)):
        pytest.skip(missing)
    if backend != 'torch' and not P.cpu_has_native_bf16():
        pytest.skip('OpenVINO bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX)')
    ref = shared_dir / 'data' / 'reference' / 'didfuse'
    engine = FusionEngine('didfuse', weights=ref / 'weights', precision='bf16',
                          enhanced=False, backend=backend)
    assert engine.channels_last == (backend == 'torch') and engine.runtime.startswith(backend)
    names = sorted(p.name for p in (ref / 'tno40' / 'ir').iterdir())
    assert len(names) == 40
    # the suite's time: every 8th pair (4-7 s a pair in torch without AMX). Emulated bf16 (no
    # AVX512-BF16 / AMX: 20 s a whole pair, 8x fp32): a 160-px window from the centre of each,
    # scored 16 px inside its edge (test/windows.py: there it is the whole image's output; in
    # fp32 it matches the authors' output exactly, measured max diff 0)
    window = None if P.cpu_has_native_bf16() else 160
    means = []
    for name in names[::8]:
        ir, vi = _grey(ref / 'tno40' / 'ir' / name), _grey(ref / 'tno40' / 'vi' / name)
        crop, inside, trim = centre_window(ir.shape, window)
        want = _grey(ref / 'tno40' / 'official_output' / name).astype(np.int32)[inside]
        out = engine.fuse(ir[crop], vi[crop]).fused.astype(np.int32)[trim]
        diff = np.abs(out - want)
        means.append(diff.mean())
        assert diff.mean() <= 0.75 and diff.max() <= 4, (name, diff.mean(), diff.max())
    print(f'didfuse {backend} bf16 vs authors: mean {np.mean(means):.3f}, worst image '
          f'{max(means):.3f}')
    assert 0.0 < np.mean(means) <= 0.5  # > 0: it really ran in bf16 (fp32 matches to 3e-5)


@pytest.mark.shared
def test_piafusion_classifier_bf16_day_probability_within_001(shared_dir):
    from fusion_ros.models.piafusion import (
        illumination_probabilities,
        load_illumination_classifier,
    )

    ref = shared_dir / 'data' / 'reference' / 'piafusion'
    golden = json.loads((ref / 'classifier_reference.json').read_text())['outputs']
    weights = ref / 'weights' / 'illumination_classifier_pytorch_port.pth'
    fp32, bf16 = load_illumination_classifier(weights), load_illumination_classifier(weights)
    bf16.to(torch.bfloat16).to(memory_format=torch.channels_last)
    for name in golden:
        bgr = cv2.imread(str(shared_dir / 'data' / 'pairs' / 'msrs' / 'vi' / name))
        rgb = torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None] / 255.0
        with torch.inference_mode():
            want = illumination_probabilities(fp32(rgb.float()))[0, 0]
            x = rgb.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
            got = illumination_probabilities(bf16(x).float())[0, 0]
        assert abs(float(got - want)) <= 0.01, (name, float(got), float(want))


def _real_pair(shared_dir, size=(160, 128)):
    folder = shared_dir / 'data' / 'pairs' / 'roadscene'
    name = sorted(p.name for p in (folder / 'ir').iterdir())[0]
    ir = cv2.resize(_grey(folder / 'ir' / name), size)
    vi = cv2.resize(cv2.cvtColor(cv2.imread(str(folder / 'vi' / name)), cv2.COLOR_BGR2RGB), size)
    return ir, vi


@pytest.mark.shared
@pytest.mark.parametrize('model', ['fastfusion', 'dfvo', 'piafusion'])
def test_bf16_output_close_to_fp32_on_a_real_pair(shared_dir, model):
    """Same weights (shipped, else seeded random), bf16 vs fp32 on a real RoadScene pair."""
    # emulated bf16 (no AVX512-BF16 / AMX) runs DFVO's up-convolutions 20x slower than fp32
    # (17 s at 160x128): a smaller pair there
    ir, vi = _real_pair(shared_dir, (160, 128) if P.cpu_has_native_bf16() else (96, 80))
    outs = []
    for precision in ('fp32', 'bf16'):
        torch.manual_seed(0)
        engine = FusionEngine(model, precision=precision, random_init=model != 'fastfusion',
                              enhanced=False)
        outs.append(engine.fuse(ir, vi).fused.astype(np.int32))
    diff = np.abs(outs[0] - outs[1])
    assert diff.mean() <= 1.0, (model, diff.mean(), diff.max())


def test_dfvo_attention_in_fp32_under_bf16():
    """Unscaled logits of DFVO's magnitude (~500): bf16 scores would lose the margins."""
    from fusion_ros.models.dfvo import hcam_attention

    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 256, 16, generator=g) * 6
    k = torch.randn(1, 256, 16, generator=g) * 6
    v = torch.randn(1, 256, 32, generator=g)
    want = hcam_attention(q, k, v, 'dense')
    qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()
    got = hcam_attention(qb, kb, vb, 'chunked')
    assert got.dtype == torch.bfloat16
    # reference from the same bf16-rounded inputs: only the output rounding remains
    ref = hcam_attention(qb.float(), kb.float(), vb.float(), 'dense')
    assert (got.float() - ref).abs().max() <= 0.02 * ref.abs().max()
    naive = torch.softmax(qb @ kb.transpose(1, 2), -1) @ vb  # scores in bf16
    assert (naive.float() - ref).abs().max() > (got.float() - ref).abs().max()
    assert torch.isfinite(hcam_attention(q.half(), k.half(), v.half(), 'chunked')).all()
    assert want.shape == got.shape


def test_bf16_engine_runs_every_learned_model():
    rng = np.random.default_rng(1)
    ir, vi = rng.integers(0, 256, (40, 56), np.uint8), rng.integers(0, 256, (40, 56, 3), np.uint8)
    for name in ('fastfusion', 'didfuse', 'piafusion', 'dfvo'):
        model = build_model(name, pretrained=False)
        assert model.auto_precision, name
        engine = FusionEngine(name, precision='bf16', random_init=True)
        res = engine.fuse(ir, vi)
        assert res.fused.shape == (40, 56, 3) and res.enhanced is not None


@pytest.mark.shared
def test_piafusion_engine_reports_its_classifiers_day_probability(shared_dir):
    """The shipped PIAFusion file carries its stage-1 classifier: its day/night call is right
    for each of the five MSRS pairs (D/N suffix); the engine reports that same call with the
    fused frame, in fp32 on the first day and night file and in bf16 on the night one (the
    suite's time: a 640x480 pair is 4-8 s, the classifier alone a fraction)."""
    msrs = shared_dir / 'data' / 'pairs' / 'msrs'
    engine = FusionEngine('piafusion', precision='fp32', enhanced=False)
    assert engine.model.classifier is not None
    files = sorted((msrs / 'vi').iterdir())
    first = {end: next(f for f in files if f.stem.endswith(end)) for end in 'DN'}

    def pair(vi_path):
        ir = cv2.imread(str(msrs / 'ir' / vi_path.name), cv2.IMREAD_GRAYSCALE)
        return ir, cv2.cvtColor(cv2.imread(str(vi_path)), cv2.COLOR_BGR2RGB)

    for vi_path in files:
        rgb = torch.from_numpy(pair(vi_path)[1]).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            day = float(engine.model.illumination(rgb)[0])
        assert (day > 0.5) == vi_path.stem.endswith('D'), (vi_path.name, day)
        if vi_path in first.values():
            assert engine.fuse(*pair(vi_path)).day_probability == pytest.approx(day, abs=1e-5)
    # auto never picks emulated bf16 (no AVX512-BF16 / AMX: 60 s a pair there); the
    # classifier's own bf16 accuracy is tested above on every CPU
    if P.cpu_has_native_bf16():
        engine = FusionEngine('piafusion', precision='bf16', enhanced=False)
        assert engine.fuse(*pair(first['N'])).day_probability < 0.5

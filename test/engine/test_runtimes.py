# SPDX-License-Identifier: Apache-2.0
"""The network exported to ONNX and run by OpenVINO or ONNX Runtime gives what torch gives;
the export cache is reused, rebuilt when damaged, renewed when the weights change."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from fusion_ros.engine import FusionEngine
from fusion_ros.engine import runtimes as rt
from fusion_ros.errors import ConfigError
from fusion_ros.models import build_model

pytest.importorskip('onnx')
pytestmark = pytest.mark.openvino
EXPORTABLE = ['fastfusion', 'didfuse', 'piafusion', 'dfvo']


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('FUSION_ROS_CACHE', str(tmp_path / 'cache'))


def _installed(runtime: str) -> None:
    if (missing := rt.runtime_missing(runtime)) is not None:
        pytest.skip(missing)


def _engine(model: str, **kw) -> FusionEngine:
    torch.manual_seed(0)  # the same random weights for every engine of a model
    return FusionEngine(model, device='cpu', random_init=True, **kw)


def _pair(h: int = 72, w: int = 88, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w), np.uint8)
    # a picture with structure, not only noise: a bright block and a gradient
    base[h // 4:h // 2, w // 4:w // 2] = 230
    rgb = np.stack([base, np.roll(base, 3, 1), np.linspace(0, 255, w, dtype=np.uint8)[None]
                    .repeat(h, 0)], -1)
    return rng.integers(0, 256, (h, w), np.uint8), rgb


@pytest.mark.parametrize('runtime', rt.RUNTIMES)
@pytest.mark.parametrize('model', EXPORTABLE)
def test_fp32_network_matches_torch(model, runtime):
    _installed(runtime)
    ref = _engine(model, precision='fp32')
    eng = _engine(model, precision='fp32', backend=runtime)
    assert eng.network is not None and eng.backend == runtime
    assert runtime in eng.describe()
    # the network alone, at two sizes and a batch of two (height and width are dynamic)
    for shape in ((1, 1, 64, 80), (2, 1, 48, 96)):
        ir, y = torch.rand(shape), torch.rand(shape)
        with torch.inference_mode():
            want = ref.run_model(ir, y)
        got = eng.run_model(ir, y)
        assert got.fused.shape == want.fused.shape
        assert (got.fused - want.fused).abs().max() < 1e-4
        if want.enhanced is not None:
            assert (got.enhanced - want.enhanced).abs().max() < 1e-4
    # and through the whole engine: the same 8-bit frame, P(day) and enhanced output
    thermal, rgb = _pair()
    a, b = ref.fuse(thermal, rgb), eng.fuse(thermal, rgb)
    assert np.abs(a.fused.astype(int) - b.fused.astype(int)).max() <= 1
    assert abs(a.day_probability - b.day_probability) < 1e-3
    assert np.abs(a.enhanced.astype(int) - b.enhanced.astype(int)).max() <= 1


@pytest.mark.parametrize('model', EXPORTABLE)
def test_openvino_bf16_stays_within_a_grey_level(model):
    _installed('openvino')
    ref = _engine(model, precision='fp32')
    eng = _engine(model, precision='bf16', backend='openvino')
    assert eng.precision == 'bf16'
    thermal, rgb = _pair(96, 128, seed=1)
    diff = np.abs(ref.fuse(thermal, rgb).fused.astype(int)
                  - eng.fuse(thermal, rgb).fused.astype(int))
    assert diff.mean() <= 1.0 and np.percentile(diff, 99.9) <= 4, (diff.mean(), diff.max())


def test_the_cache_is_reused_rebuilt_when_damaged_and_renewed_with_new_weights(tmp_path,
                                                                               monkeypatch):
    _installed('onnxruntime')
    root = tmp_path / 'entries'
    model = build_model('fastfusion', radius_reference=0)  # one graph for every size
    path, outputs, exported = rt.onnx_for(model, 'fastfusion', enhanced=True, root=root)
    assert exported and path.is_file() and outputs[0] == 'fused'
    stamp = path.stat().st_mtime_ns
    again, _, exported = rt.onnx_for(model, 'fastfusion', enhanced=True, root=root)
    assert again == path and not exported and path.stat().st_mtime_ns == stamp
    # a truncated file (a crash mid-write by another tool, a full disk) is never used
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    rebuilt, _, exported = rt.onnx_for(model, 'fastfusion', enhanced=True, root=root)
    assert rebuilt == path and exported
    rt.load_network('onnxruntime', rebuilt, outputs, 'fp32')  # loads whole
    # other weights: another entry; the old one stays for the old weights
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    other, _, exported = rt.onnx_for(model, 'fastfusion', enhanced=True, root=root)
    assert other != path and exported
    # without the enhanced head: another entry with one output fewer
    plain, names, _ = rt.onnx_for(model, 'fastfusion', enhanced=False, root=root)
    assert plain not in (path, other) and 'enhanced' not in names
    # a changed forward (a fix in the model's code, a new release): never the old graph
    monkeypatch.setattr(rt, 'code_hash', lambda model: 'another-source')
    newer, _, exported = rt.onnx_for(model, 'fastfusion', enhanced=False, root=root)
    assert newer != plain and exported
    assert not [p for p in os.listdir(root) if p.startswith('.')]  # no temporary files left


def test_the_export_carries_its_metadata(tmp_path):
    import onnx

    model = build_model('piafusion')
    path, _, _ = rt.onnx_for(model, 'piafusion', enhanced=False, root=tmp_path)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta['fusion_ros.model'] == 'piafusion'
    assert meta['fusion_ros.weights_sha256'] == rt.weights_hash(model)
    assert meta['fusion_ros.colour'] == model.colour
    assert meta['fusion_ros.opset'] == str(rt.OPSET)
    assert [i.name for i in proto.graph.input] == ['thermal', 'visible_y']
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', '', 'height', 'width']


def test_a_model_that_cannot_be_exported_is_refused_with_the_reason(monkeypatch):
    from fusion_ros.models.didfuse import DIDFuse

    monkeypatch.setattr(DIDFuse, 'export_blocker', 'its forward loops over the frame')
    with pytest.raises(ConfigError, match='DIDFuse.*loops over the frame'):
        _engine('didfuse', precision='fp32', backend='onnxruntime')


def test_auto_runs_openvino_for_heavy_models_on_a_cpu_only(monkeypatch):
    cpu = torch.device('cpu')
    heavy, light = build_model('didfuse', pretrained=False), build_model('fastfusion')
    if rt.runtime_missing('openvino') is None:
        assert rt.resolve_backend('auto', heavy, cpu) == ('openvino', None)
        # precision auto: bf16 where AMX makes it pay, fp32 where it would be slower
        monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: True)
        for amx, want in ((True, 'bf16'), (False, 'fp32')):
            monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda amx=amx: amx)
            engine = _engine('didfuse', precision='auto', backend='auto')
            assert (engine.backend, engine.precision) == ('openvino', want)
    assert rt.resolve_backend('auto', light, cpu) == ('torch', None)
    assert rt.resolve_backend('auto', heavy, torch.device('meta')) == ('torch', None)
    with pytest.raises(ConfigError, match='unknown backend'):
        rt.resolve_backend('tensorrt', heavy, cpu)


def test_a_missing_runtime_falls_back_under_auto_and_is_named_when_asked_for(monkeypatch):
    monkeypatch.setattr(rt, 'runtime_missing', lambda name: f'pip install {name}')
    heavy, cpu = build_model('didfuse', pretrained=False), torch.device('cpu')
    backend, note = rt.resolve_backend('auto', heavy, cpu)
    assert backend == 'torch' and 'pip install openvino' in note
    with pytest.raises(ConfigError, match='pip install openvino'):
        rt.resolve_backend('openvino', heavy, cpu)


def test_onnxruntime_refuses_bf16_and_auto_resolves_it_to_fp32():
    _installed('onnxruntime')
    with pytest.raises(ConfigError, match='fp32'):
        _engine('didfuse', precision='bf16', backend='onnxruntime')
    assert _engine('didfuse', precision='auto', backend='onnxruntime').precision == 'fp32'


def test_frames_above_the_runtimes_limit_run_in_torch(monkeypatch):
    """DFVO's graph holds the whole frame (no row strips): larger frames stay in torch."""
    _installed('onnxruntime')
    from fusion_ros.models.dfvo import DFVO

    monkeypatch.setattr(DFVO, 'runtime_max_pixels', 64 * 64)
    eng = _engine('dfvo', precision='fp32', backend='onnxruntime')
    assert 'torch fp32 above 4,096 pixels' in eng.describe()
    assert eng.runtime_for(64, 64).startswith('onnxruntime ')
    assert eng.runtime_for(80, 62) == 'torch (above the onnxruntime limit of 4,096 pixels)'
    calls = []
    network = eng.network
    monkeypatch.setattr(eng, 'network', lambda *a: calls.append(a) or network(*a))
    small, large = (torch.rand(1, 1, 64, 64),) * 2, (torch.rand(1, 1, 64, 80),) * 2
    with torch.inference_mode():
        eng.run_model(*small)
        assert len(calls) == 1
        got = eng.run_model(*large)
        assert len(calls) == 1  # the runtime was not asked
        want = eng.model(*large)
    assert torch.equal(got.fused, want.fused)


def test_a_model_that_chooses_from_the_frame_size_gets_one_graph_per_choice():
    """FastFusion with radius_reference widens its base/detail split on larger frames; a
    traced graph holds one radius, so the engine exports one graph per radius and each
    frame runs the graph of its own radius: as torch does."""
    _installed('onnxruntime')
    options = {'radius_reference': 32}
    eng = _engine('fastfusion', precision='fp32', backend='onnxruntime', model_options=options)
    with pytest.raises(ConfigError, match='radius_reference=0'):  # no size: no one graph
        rt.onnx_for(eng.model, 'fastfusion', enhanced=True)
    frames = {(32, 40): 2, (64, 96): 4, (36, 44): 2}
    for (h, w), radius in frames.items():
        ir, y = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
        with torch.inference_mode():
            got, want = eng.run_model(ir, y), eng.model(ir, y)
        assert eng.model.radius_for(h, w) == radius
        torch.testing.assert_close(got.fused, want.fused, atol=1e-4, rtol=0)
        torch.testing.assert_close(got.enhanced, want.enhanced, atol=1e-4, rtol=0)
    assert sorted(key for key in eng._graphs) == [(('fixed_radius', 2),), (('fixed_radius', 4),)]
    assert eng.model.fixed_radius == 0  # the exports left the torch model as it was

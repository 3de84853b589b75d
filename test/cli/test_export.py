# SPDX-License-Identifier: Apache-2.0
"""``fusion-ros export``: files a deployment runtime loads, giving the torch model's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_ros.cli.main import main
from fusion_ros.engine import runtimes
from fusion_ros.models import build_model

pytestmark = pytest.mark.openvino


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('FUSION_ROS_CACHE', str(tmp_path / 'cache'))


def _torch_fused(model: str, ir: np.ndarray, y: np.ndarray) -> np.ndarray:
    net = build_model(model)
    with torch.inference_mode():
        return net(torch.from_numpy(ir), torch.from_numpy(y)).fused.numpy()


def test_onnx_export_runs_in_onnx_runtime_at_any_size(tmp_path, capsys):
    ort = pytest.importorskip('onnxruntime')
    assert main(['export', '--model', 'piafusion', '--out', str(tmp_path / 'out')]) == 0
    assert 'dynamic' in capsys.readouterr().out
    session = ort.InferenceSession(str(tmp_path / 'out' / 'piafusion.onnx'),
                                   providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['thermal', 'visible_y']
    rng = np.random.default_rng(0)
    for h, w in ((40, 56), (64, 48)):
        ir, y = (rng.random((1, 1, h, w), np.float32) for _ in range(2))
        got = session.run(['fused'], {'thermal': ir, 'visible_y': y})[0]
        np.testing.assert_allclose(got, _torch_fused('piafusion', ir, y), atol=1e-4)


def test_openvino_ir_at_a_fixed_size_with_the_models_facts(tmp_path):
    if runtimes.runtime_missing('openvino'):
        pytest.skip(runtimes.runtime_missing('openvino'))
    import openvino as ov

    out = tmp_path / 'out'
    assert main(['export', '--model', 'fastfusion', '--format', 'openvino', '--size', '64x48',
                 '--out', str(out)]) == 0
    core = ov.Core()
    network = core.read_model(str(out / 'fastfusion.xml'))
    assert network.get_rt_info(['fusion_ros', 'model']).astype(str) == 'fastfusion'
    assert network.get_rt_info(['fusion_ros', 'size_multiple']).astype(str) == '4'
    assert list(network.input('thermal').get_partial_shape().to_shape()) == [1, 1, 48, 64]
    compiled = core.compile_model(network, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    rng = np.random.default_rng(1)
    ir, y = (rng.random((1, 1, 48, 64), np.float32) for _ in range(2))
    got = compiled({'thermal': ir, 'visible_y': y})[compiled.output('fused')]
    np.testing.assert_allclose(got, _torch_fused('fastfusion', ir, y), atol=1e-4)


@pytest.mark.parametrize('argv, message', [
    (['--model', 'piafusion', '--option', 'flavour=port'], 'needs trained weights'),
    (['--model', 'fastfusion', '--size', '66x48'], 'multiples of 4'),
])
def test_what_cannot_be_exported_is_refused_with_the_reason(tmp_path, capsys, argv, message):
    assert main(['export', *argv, '--out', str(tmp_path / 'out')]) == 1
    assert message in capsys.readouterr().err
    assert not any((tmp_path / 'out').glob('*.onnx'))


def test_a_model_the_exporter_cannot_trace_is_refused_naming_it(tmp_path, capsys, monkeypatch):
    from fusion_ros.models.fastfusion import FastFusion

    monkeypatch.setattr(FastFusion, 'export_blocker', 'its forward loops over the frame')
    assert main(['export', '--model', 'fastfusion', '--out', str(tmp_path / 'out')]) == 1
    assert 'cannot export FastFusion to ONNX: its forward loops over the frame' in \
        capsys.readouterr().err
    assert not any((tmp_path / 'out').glob('*.onnx'))


def test_dfvo_exports_and_runs_in_onnx_runtime_at_another_size(tmp_path, capsys):
    ort = pytest.importorskip('onnxruntime')
    out = tmp_path / 'out'
    assert main(['export', '--model', 'dfvo', '--out', str(out)]) == 0
    (path,) = out.glob('*.onnx')
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(2)
    # 100x60: 375 attention tokens, not a multiple of the export's query chunks
    for h, w in ((64, 80), (100, 60)):
        ir, y = (rng.random((1, 1, h, w), np.float32) for _ in range(2))
        (got,) = session.run(['fused'], {'thermal': ir, 'visible_y': y})
        np.testing.assert_allclose(got, _torch_fused('dfvo', ir, y), atol=1e-4)

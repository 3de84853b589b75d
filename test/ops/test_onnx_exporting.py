# SPDX-License-Identifier: Apache-2.0
"""onnx_exporting: torch's answer, without importing the ONNX exporter to give it."""

import subprocess
import sys

import pytest
import torch

from fusion_ros.ops.export import onnx_exporting


def test_a_forward_outside_an_export_leaves_the_exporter_unimported():
    """FastFusion and DFVO ask on every forward; the first frame must not import the
    exporter (13 ms, and a signal landing in that import broke the CLI's clean stop)."""
    code = ('import sys, torch\n'
            'from fusion_ros.models import build_model\n'
            'for name in ("fastfusion", "dfvo"):\n'
            '    m = build_model(name, pretrained=False)\n'
            '    with torch.inference_mode():\n'
            '        m(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))\n'
            'print(sorted(k for k in sys.modules if k.startswith("torch.onnx._internal")))\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == '[]'


def test_it_answers_as_torch_inside_and_outside_an_export(tmp_path):
    pytest.importorskip('onnx')
    seen: list[tuple[bool, bool]] = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((onnx_exporting(), torch.onnx.is_in_onnx_export()))
            return x + 1

    torch.onnx.export(Probe(), (torch.rand(2),), str(tmp_path / 'p.onnx'), dynamo=False)
    assert seen and all(ours == theirs == True for ours, theirs in seen)  # noqa: E712
    assert onnx_exporting() is False and torch.onnx.is_in_onnx_export() is False

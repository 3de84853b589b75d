# SPDX-License-Identifier: Apache-2.0
"""Whether a forward runs inside an ONNX export, asked without importing the exporter."""

from __future__ import annotations

import sys

import torch

__all__ = ['onnx_exporting']

# the modules that hold torch's "exporting now" flags (torch.onnx.is_in_onnx_export)
_FLAG_MODULES = ('torch.onnx._internal.exporter._flags',
                 'torch.onnx._internal.torchscript_exporter._globals')


def onnx_exporting() -> bool:
    """``torch.onnx.is_in_onnx_export()``, but False at once while the exporter was never
    imported (no export can be running then). Asking torch directly imports the exporter
    the first time: 13 ms on a model's first frame, and a SIGTERM landing inside that import
    surfaced as a RuntimeError from class creation instead of the CLI's clean stop."""
    if not any(name in sys.modules for name in _FLAG_MODULES):
        return False
    return torch.onnx.is_in_onnx_export()

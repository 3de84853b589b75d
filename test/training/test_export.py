# SPDX-License-Identifier: Apache-2.0
"""A checkpoint shrunk to half precision for shipping loads back into an fp32 model strictly
and fuses within fp16 rounding of the original; values fp16 cannot hold are refused."""

import pytest
import torch

from fusion_ros.errors import WeightsError
from fusion_ros.models import build_model
from fusion_ros.models._builder import read_checkpoint
from fusion_ros.training.export import shrink_checkpoint


def _export(tmp_path, model):
    path = tmp_path / 'full.pt'
    torch.save({'model': model.state_dict(), 'model_name': 'dfvo', 'step': 7}, path)
    return path


def test_a_half_precision_file_is_half_the_size_and_fuses_like_the_original(tmp_path):
    torch.manual_seed(0)
    model = build_model('dfvo', pretrained=False, variant='full')
    src = _export(tmp_path, model)
    dst = tmp_path / 'half.pt'
    size = shrink_checkpoint(src, dst, 'fp16')
    assert size < 0.55 * src.stat().st_size
    state, meta = read_checkpoint(dst)
    assert meta['step'] == 7  # the values beside the weights are kept
    assert state['ViEncode1.Conv.weight'].dtype == torch.float16
    assert state['ViEncode1.Bn.num_batches_tracked'].dtype == torch.int64
    # the inference variant (the node's) loads the full file and drops the training heads
    half = build_model('dfvo', weights=dst)
    full = build_model('dfvo', weights=src)
    assert next(half.parameters()).dtype == torch.float32
    ir, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        a, b = full(ir, y).fused, half(ir, y).fused
    assert 0 < (a - b).abs().max() < 2e-3  # rounded, not copied, and close


def test_values_fp16_cannot_hold_are_refused(tmp_path):
    model = build_model('fastfusion', pretrained=False)
    state = model.state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 1e6
    src = tmp_path / 'big.pt'
    torch.save(state, src)
    with pytest.raises(WeightsError, match='bf16'):
        shrink_checkpoint(src, tmp_path / 'half.pt', 'fp16')
    shrink_checkpoint(src, tmp_path / 'half.pt', 'bf16')  # bf16 holds fp32's range

# SPDX-License-Identifier: Apache-2.0
"""DIDFuse: official weights, golden outputs, fusion rules, training-mode gradients."""

import json

import cv2
import numpy as np
import pytest
import torch

from fusion_ros.engine import FusionEngine
from fusion_ros.errors import ConfigError, WeightsError
from fusion_ros.models import build_model
from fusion_ros.models.didfuse import OFFICIAL_FILES
from test.windows import centre_window


@pytest.fixture(scope='module')
def didfuse_ref(shared_dir):
    return shared_dir / 'data' / 'reference' / 'didfuse'


def _official_layout(didfuse_ref, tmp_path, drop=None, reshape=None):
    """Random tensors with exactly the authors' key names and shapes, in their .pkl format."""
    shapes = json.loads((didfuse_ref / 'official_state_dict_shapes.json').read_text())
    for part, name in zip(('Encoder', 'Decoder'), OFFICIAL_FILES):
        state = {}
        for key, shape in shapes[part].items():
            if key == drop:
                continue
            if key == reshape:
                shape = [s + 1 for s in shape]
            state[key] = (torch.tensor(5) if key.endswith('num_batches_tracked')
                          else torch.rand(shape) + 0.5)
        torch.save({'weight': state, 'epoch': 120}, tmp_path / name)
    return tmp_path


@pytest.mark.shared
def test_official_layout_loads_strictly(didfuse_ref, tmp_path):
    folder = _official_layout(didfuse_ref, tmp_path)
    model = build_model('didfuse', weights=folder)
    enc = torch.load(folder / OFFICIAL_FILES[0], weights_only=True)['weight']
    torch.testing.assert_close(model.encoder.cov1[1].weight, enc['cov1.cov1.1.weight'])
    torch.testing.assert_close(model.encoder.cov4[1].running_var,
                               enc['cov4.cov4.1.running_var'])


@pytest.mark.shared
def test_mismatched_official_files_name_the_problem(didfuse_ref, tmp_path):
    (tmp_path / 'a').mkdir()
    folder = _official_layout(didfuse_ref, tmp_path / 'a', drop='cov3.cov3.0.bias')
    with pytest.raises(WeightsError, match=r"missing keys \['encoder.cov3.0.bias'\]"):
        build_model('didfuse', weights=folder)
    (tmp_path / 'b').mkdir()
    folder = _official_layout(didfuse_ref, tmp_path / 'b', reshape='cov5.cov5.0.weight')
    with pytest.raises(WeightsError, match='size mismatch'):
        build_model('didfuse', weights=folder)
    (tmp_path / 'c').mkdir()
    with pytest.raises(WeightsError, match='lacks the DIDFuse release'):
        build_model('didfuse', weights=tmp_path / 'c')


@pytest.mark.shared
def test_golden_released_weights_reproduce_authors_outputs(didfuse_ref):
    """Every 8th of the 40 TNO pairs: round(255 * output) within 0.1 mean and 2 max grey
    levels. The first pair whole (the reflection-padded borders); of the others (the suite's
    time: 2-8 s a whole pair) a 192-px window from the centre, scored 16 px inside its edge,
    where it is the whole image's output (test/windows.py; all 40 whole pairs passed when
    this was written)."""
    model = build_model('didfuse', weights=didfuse_ref / 'weights')
    names = sorted(p.name for p in (didfuse_ref / 'tno40' / 'ir').iterdir())
    assert len(names) == 40
    for k, name in enumerate(names[::8]):
        ir = cv2.imread(str(didfuse_ref / 'tno40' / 'ir' / name), cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(str(didfuse_ref / 'tno40' / 'vi' / name), cv2.IMREAD_GRAYSCALE)
        crop, inside, trim = centre_window(ir.shape, 192 if k else None)
        ref = cv2.imread(str(didfuse_ref / 'tno40' / 'official_output' / name),
                         cv2.IMREAD_GRAYSCALE).astype(np.int32)[inside]
        with torch.inference_mode():
            out = model(torch.from_numpy(ir[crop] / 255.0).float()[None, None],
                        torch.from_numpy(vi[crop] / 255.0).float()[None, None]).fused
        ours = np.rint(out[0, 0].numpy() * 255.0).astype(np.int32)[trim]
        diff = np.abs(ours - ref)
        assert diff.shape == ref.shape and diff.size >= 160 * 160
        assert diff.mean() <= 0.1 and diff.max() <= 2, (name, diff.mean(), diff.max())


def test_fusion_rules_differ_and_bad_rule_is_rejected():
    torch.manual_seed(0)
    ir, vi = torch.rand(1, 1, 24, 20), torch.rand(1, 1, 24, 20)
    outs = {}
    for rule in ('sum', 'average', 'l1_norm'):
        torch.manual_seed(1)
        model = build_model('didfuse', fusion_rule=rule)
        outs[rule] = model(ir, vi).fused
        assert outs[rule].shape == (1, 1, 24, 20)
    assert not torch.allclose(outs['sum'], outs['average'])
    assert not torch.allclose(outs['l1_norm'], outs['average'])
    with pytest.raises(ConfigError, match='fusion_rule'):
        build_model('didfuse', fusion_rule='max')


def test_gradients_reach_every_parameter_in_training_mode():
    model = build_model('didfuse').train()
    x = torch.rand(2, 1, 16, 16)
    loss = model.reconstruct(x).mean() + model(x, torch.rand(2, 1, 16, 16)).fused.mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_parameter_count_matches_the_paper():
    assert build_model('didfuse').num_params() == 260_935


def test_engine_loads_the_shipped_file_and_refuses_to_run_untrained():
    assert FusionEngine('didfuse').model.weights_source.endswith('didfuse.pt')  # ours
    # the shipped file fits the default architecture only: another width runs untrained
    with pytest.raises(WeightsError, match='needs trained weights'):
        FusionEngine('didfuse', model_options={'channels': 32})
    FusionEngine('didfuse', model_options={'channels': 32}, random_init=True)


def test_deterministic():
    torch.manual_seed(0)
    model = build_model('didfuse')
    ir, vi = torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12)
    torch.testing.assert_close(model(ir, vi).fused, model(ir, vi).fused, rtol=0, atol=0)

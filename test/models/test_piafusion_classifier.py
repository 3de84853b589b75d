# SPDX-License-Identifier: Apache-2.0
"""PIAFusion illumination classifier: released port weights, golden outputs."""

import json

import cv2
import pytest
import torch

from fusion_ros.errors import WeightsError
from fusion_ros.models.piafusion import (
    IlluminationClassifier,
    illumination_probabilities,
    load_illumination_classifier,
)


def test_parameter_count_and_shape():
    model = IlluminationClassifier()
    assert model.num_params() == 189_810
    out = model(torch.rand(2, 3, 48, 64))
    assert out.shape == (2, 2) and (out >= 0).all()
    assert (IlluminationClassifier(head='abs')(torch.rand(1, 3, 32, 32)) >= 0).all()
    with pytest.raises(ValueError, match='head'):
        IlluminationClassifier(head='softmax')


def test_probabilities_guard_zero_over_zero():
    p = illumination_probabilities(torch.tensor([[3.0, 1.0], [0.0, 0.0], [0.0, 2.0]]))
    torch.testing.assert_close(p, torch.tensor([[0.75, 0.25], [0.5, 0.5], [0.0, 1.0]]))


@pytest.mark.shared
def test_golden_released_classifier(shared_dir):
    ref = shared_dir / 'data' / 'reference' / 'piafusion'
    golden = json.loads((ref / 'classifier_reference.json').read_text())['outputs']
    model = load_illumination_classifier(
        ref / 'weights' / 'illumination_classifier_pytorch_port.pth')
    for name, expected in golden.items():
        bgr = cv2.imread(str(shared_dir / 'data' / 'pairs' / 'msrs' / 'vi' / name))
        rgb = torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)
        with torch.inference_mode():
            out = model(rgb[None].float() / 255.0)[0]
        assert torch.allclose(out, torch.tensor(expected), atol=1e-3), (name, out, expected)
        day, night = illumination_probabilities(out[None])[0].tolist()
        assert (day > night) == name.endswith('D.png')


def test_wrong_checkpoint_is_named(tmp_path):
    path = tmp_path / 'bad.pth'
    torch.save({'linear9.weight': torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match='unexpected keys'):
        load_illumination_classifier(path)

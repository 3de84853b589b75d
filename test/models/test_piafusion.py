# SPDX-License-Identifier: Apache-2.0
"""PIAFusion fusion network: flavours, CMDAF sign, port layout loading, colour transform."""

import json

import pytest
import torch

from fusion_ros.errors import ConfigError, WeightsError
from fusion_ros.models import build_model
from fusion_ros.models.piafusion import PIAFusion, cmdaf
from fusion_ros.ops.color import COLOUR_TRANSFORMS, rgb_to_ycbcr_studio_tf


def test_parameter_counts_match_the_notes():
    assert PIAFusion('tf').num_params() == 1_076_785  # shared extractor (TensorFlow)
    assert PIAFusion('paper').num_params() == 1_076_785
    assert PIAFusion('port').num_params() == 1_176_097  # separate IR/VI convs


def test_flavour_defaults_and_overrides():
    tf = PIAFusion('tf')
    assert tf.options == {'share_weights': True, 'cmdaf_sign': 'tf', 'slope': 0.2,
                          'head': 'tanh_half', 'colour': 'bt601_studio_tf'}
    assert tf.colour == 'bt601_studio_tf'
    port = PIAFusion('port', slope=0.2)
    assert port.options['slope'] == 0.2 and port.encoder.act.negative_slope == 0.2
    assert not port.encoder.share_weights
    with pytest.raises(ConfigError, match='flavour'):
        build_model('piafusion', flavour='keras')
    with pytest.raises(ConfigError, match='cmdaf_sign'):
        build_model('piafusion', cmdaf_sign='minus')


def test_cmdaf_sign():
    vi = torch.zeros(1, 4, 3, 3)
    ir = torch.ones(1, 4, 3, 3)
    new_vi, new_ir = cmdaf(vi, ir, 'paper')  # paper: each stream moves towards the other
    assert (new_vi > 0).all() and (new_ir < 1).all()
    new_vi, new_ir = cmdaf(vi, ir, 'tf')  # TensorFlow code: pushed apart
    assert (new_vi < 0).all() and (new_ir > 1).all()
    # gate is sigmoid(GAP(F_ir - F_vi)) = sigmoid(1) for F_vi's update
    torch.testing.assert_close(cmdaf(vi, ir, 'paper')[0], torch.full_like(vi, torch.sigmoid(
        torch.tensor(1.0)).item()))


def test_heads_keep_output_in_unit_range():
    x = torch.rand(1, 1, 12, 10)
    for flavour in ('tf', 'port', 'paper'):
        out = PIAFusion(flavour).eval()(x, x).fused
        assert out.min() >= 0 and out.max() <= 1


def test_studio_tf_colour_matches_the_original_formula():
    rgb = torch.tensor([1.0, 1.0, 1.0]).view(1, 3, 1, 1)
    y = rgb_to_ycbcr_studio_tf(rgb)[0, 0, 0, 0]
    assert y.item() == pytest.approx(0.257 + 0.564 + 0.098 + 16 / 255)
    fwd, inv = COLOUR_TRANSFORMS['bt601_studio_tf']
    grey = torch.full((1, 3, 2, 2), 0.5)
    # chroma of grey is neutral (128/255) up to the coefficients' rounding
    assert torch.allclose(fwd(grey)[:, 1:], torch.full((1, 2, 2, 2), 128 / 255), atol=1e-3)
    assert inv(fwd(torch.rand(1, 3, 4, 4))).shape == (1, 3, 4, 4)


@pytest.mark.shared
def test_port_fusion_layout_loads_strictly(shared_dir, tmp_path):
    shapes = json.loads((shared_dir / 'data' / 'reference' / 'piafusion' /
                         'official_state_dict_shapes.json').read_text())['PIAFusion_port_fusion']
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v, generator=gen) for k, v in shapes.items()}
    path = tmp_path / 'fusion_model.pth'
    torch.save(state, path)
    model = build_model('piafusion', weights=path, flavour='port', weights_format='piafusion-port')
    torch.testing.assert_close(model.decoder.conv5.weight, state['decoder.conv5.weight'])
    with pytest.raises(WeightsError, match="flavour='port'"):
        build_model('piafusion', weights=path)  # tf flavour shares the extractor
    del state['decoder.conv5.bias']
    torch.save(state, path)
    with pytest.raises(WeightsError, match='decoder.conv5.bias'):
        build_model('piafusion', weights=path, flavour='port')
    with pytest.raises(ConfigError, match='dfvo-official'):
        build_model('piafusion', weights=path, weights_format='dfvo-official')

# SPDX-License-Identifier: Apache-2.0
"""Model registry, builder, checkpoint loading and the classical baselines."""

import pickle

import numpy as np
import pytest
import torch

from fusion_ros.errors import ConfigError, ModelNotFoundError, ShapeError, WeightsError
from fusion_ros.models import build_model, list_models, register_model
from fusion_ros.models._registry import model_option_ranges, model_options


def test_baselines_registered():
    assert {'average', 'max', 'laplacian'} <= set(list_models())


def test_unknown_name_lists_models():
    with pytest.raises(ModelNotFoundError, match='available: .*laplacian'):
        build_model('nope')


def test_register_twice_raises():
    from fusion_ros.models.classical import laplacian

    with pytest.raises(ValueError, match="'laplacian' is already registered"):
        register_model(laplacian)


@pytest.mark.parametrize('name', list_models())
@pytest.mark.parametrize('size', [(17, 23), (64, 48), (1, 1)])
def test_forward_shape_finite_range(name, size):
    from fusion_ros.engine import FusionEngine

    model = build_model(name)
    h, w = size
    m = model.size_multiple
    # the engine pads; the model sees multiples of size_multiple, at least min_size
    hp, wp = (max(v + (-v) % m, model.min_size) for v in (h, w))
    out = model(torch.rand(2, 1, hp, wp), torch.rand(2, 1, hp, wp))
    assert out.fused.shape == (2, 1, hp, wp)
    assert torch.isfinite(out.fused).all()
    assert out.fused.min() >= 0 and out.fused.max() <= 1
    engine = FusionEngine(name, random_init=True)
    assert isinstance(engine.model.num_params(), int)
    ir = np.zeros(size, np.uint8)
    assert engine.fuse(ir, np.zeros((*size, 3), np.uint8)).fused.shape == (*size, 3)


def test_max_and_average_are_what_they_say():
    a, b = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(build_model('max')(a, b).fused, torch.maximum(a, b))
    torch.testing.assert_close(build_model('average')(a, b).fused, (a + b) / 2)


def test_laplacian_reconstructs_identical_inputs_and_keeps_strongest_detail():
    lap = build_model('laplacian')
    x = torch.rand(1, 1, 64, 64)
    torch.testing.assert_close(lap(x, x).fused, x, atol=1e-5, rtol=0)
    flat = torch.full((1, 1, 64, 64), 0.5)
    edge = flat.clone()
    edge[..., :, 32:] = 0.9
    fused = lap(flat, edge).fused
    # the step edge of the second image survives fusion with a flat image
    assert (fused[..., 32, 36] - fused[..., 32, 28]).item() > 0.3


def test_shape_errors():
    with pytest.raises(ShapeError):
        build_model('max')(torch.rand(1, 3, 4, 4), torch.rand(1, 1, 4, 4))
    with pytest.raises(ShapeError, match='differ in size'):
        build_model('max')(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5))


def test_bad_model_options_are_config_errors():
    with pytest.raises(ConfigError, match='levels'):
        build_model('laplacian', levels=1)
    with pytest.raises(ConfigError):
        build_model('max', bogus=3)


class _Evil:
    def __reduce__(self):
        return (print, ('pwned',))


def test_weights_loading_refuses_code_and_reports_keys(tmp_path):
    evil = tmp_path / 'evil.pt'
    with open(evil, 'wb') as f:
        pickle.dump({'x': _Evil()}, f)
    with pytest.raises(WeightsError, match='weights_only=True'):
        build_model('laplacian', weights=evil)
    mismatched = tmp_path / 'mismatch.pt'
    torch.save({'model': {'conv.weight': torch.zeros(1)}}, mismatched)
    with pytest.raises(WeightsError, match="unexpected keys \\['conv.weight'\\]"):
        build_model('laplacian', weights=mismatched)
    with pytest.raises(WeightsError, match='does not exist'):
        build_model('laplacian', weights=tmp_path / 'missing.pt')
    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(WeightsError):
        build_model('laplacian', weights=corrupt)


def test_empty_state_dict_loads_into_parameterless_model(tmp_path):
    path = tmp_path / 'empty.pt'
    torch.save({}, path)
    assert build_model('max', weights=path) is not None


def test_unknown_model_option_names_the_valid_ones(capsys):
    from fusion_ros.cli.main import main

    with pytest.raises(ConfigError) as err:
        build_model('piafusion', flavor='tf')
    text = str(err.value)
    assert "no option 'flavor'" in text and "flavour='tf'" in text
    assert 'unexpected keyword' not in text
    assert main(['models', '--options', 'dfvo']) == 0
    out = capsys.readouterr().out
    assert "variant='inference'" in out and "attention='chunked'" in out
    assert main(['models', '--options', 'max']) == 0
    assert 'takes no options' in capsys.readouterr().out


def test_every_declared_range_is_an_option_whose_default_lies_inside_it():

    declared = 0
    for name in list_models():
        options, ranges = model_options(name), model_option_ranges(name)
        for key, (low, high) in ranges.items():
            declared += 1
            assert key in options, (name, key)
            assert low is not None or high is not None, (name, key)
            default = options[key]
            assert (low is None or default >= low) and (high is None or default <= high), (
                name, key, default)
    assert declared >= 10


@pytest.mark.parametrize('name', ['laplacian', 'fastfusion', 'dfvo', 'didfuse'])
def test_values_just_outside_a_range_are_refused_with_the_range(name):
    from fusion_ros.errors import OptionError

    ranges = model_option_ranges(name)
    assert ranges
    for key, (low, high) in ranges.items():
        step = 1 if isinstance(model_options(name)[key], int) else 0.5
        for bad in ([low - step] if low is not None else []) + (
                [high + step] if high is not None else []):
            with pytest.raises(OptionError, match=rf'option {key} must be .*got {bad}'):
                build_model(name, pretrained=False, **{key: bad})


def test_values_at_the_ends_of_a_range_build():
    assert build_model('laplacian', levels=2).size_multiple == 2
    assert build_model('laplacian', levels=10).size_multiple == 512
    build_model('fastfusion', pretrained=False, weak_detail=0.0, mid_mix=1.0)


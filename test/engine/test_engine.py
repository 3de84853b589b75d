# SPDX-License-Identifier: Apache-2.0
"""FusionEngine: colour handling, thermal formats, padding, devices, bad input."""

import numpy as np
import pytest
import torch

from fusion_ros.engine import FusionEngine, resolve_device
from fusion_ros.errors import ConfigError, EncodingError, ShapeError
from fusion_ros.ops.color import rgb_to_ycbcr
from fusion_ros.ops.convert import array_to_tensor

RNG = np.random.default_rng(0)


def test_colour_output_keeps_visible_chroma_and_fuses_luma():
    vi = RNG.integers(40, 200, (32, 40, 3), dtype=np.uint8)
    ir = np.full((32, 40), 255, np.uint8)  # a hot scene: max fusion takes the thermal Y
    res = FusionEngine('max').fuse(ir, vi)
    assert res.fused.shape == (32, 40, 3) and res.fused.dtype == np.uint8
    ycc_in = rgb_to_ycbcr(array_to_tensor(vi / 255.0))
    ycc_out = rgb_to_ycbcr(array_to_tensor(res.fused / 255.0))
    # chroma preserved (up to clamping and 8-bit rounding), luminance from thermal
    assert (ycc_out[:, 1:] - ycc_in[:, 1:]).abs().mean() < 0.08
    assert ycc_out[:, 0].mean() > ycc_in[:, 0].mean() + 0.2


def test_grey_visible_gives_grey_output():
    ir = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
    vi = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
    res = FusionEngine('max').fuse(ir, vi)
    np.testing.assert_array_equal(res.fused, np.maximum(ir, vi))


def test_16bit_thermal_is_gain_controlled():
    raw = np.full((16, 16), 7000, np.uint16)
    raw[4:8, 4:8] = 9000  # a hot object in 14-bit counts
    vi = np.zeros((16, 16), np.uint8)
    fused = FusionEngine('max').fuse(raw, vi).fused
    assert fused[5, 5] == 255 and fused[0, 0] == 0


@pytest.mark.parametrize('size', [(31, 45), (1, 1), (7, 300)])
def test_odd_sizes_are_padded_and_cropped(size):
    ir = RNG.integers(0, 256, size, dtype=np.uint8)
    vi = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
    res = FusionEngine('laplacian').fuse(ir, vi)
    assert res.fused.shape == (*size, 3)


def test_day_probability_tracks_brightness():
    engine = FusionEngine('average')
    ir = np.zeros((32, 32), np.uint8)
    day = engine.fuse(ir, np.full((32, 32, 3), 180, np.uint8)).day_probability
    night = engine.fuse(ir, np.full((32, 32, 3), 10, np.uint8)).day_probability
    assert day > 0.9 and night < 0.1


def test_bad_inputs_raise_clear_errors():
    engine = FusionEngine('max')
    with pytest.raises(ShapeError, match='differ in size'):
        engine.fuse(np.zeros((10, 10), np.uint8), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ShapeError):
        engine.fuse(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ShapeError):
        engine.fuse(np.zeros((10, 10), np.uint8), np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(EncodingError):
        engine.fuse(np.zeros((4, 4), np.uint8), np.full((4, 4, 3), np.nan, np.float32))


def test_device_and_precision_validation():
    assert resolve_device('cpu').type == 'cpu'
    assert resolve_device('auto').type == ('cuda' if torch.cuda.is_available() else 'cpu')
    with pytest.raises(ConfigError, match='invalid device'):
        resolve_device('tpu-ish')
    with pytest.raises(ConfigError, match='precision'):
        FusionEngine('max', precision='int4')
    with pytest.raises(ConfigError, match='percentiles'):
        FusionEngine('max', thermal_agc=(50.0, 10.0))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match='CUDA is not available'):
            FusionEngine('max', device='cuda')
        with pytest.raises(ConfigError, match='fp16 needs a CUDA'):
            FusionEngine('max', precision='fp16')


def test_bf16_runs_on_cpu_close_to_fp32():
    ir = RNG.integers(0, 256, (24, 24), dtype=np.uint8)
    vi = RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    a = FusionEngine('laplacian').fuse(ir, vi).fused.astype(int)
    b = FusionEngine('laplacian', precision='bf16').fuse(ir, vi).fused.astype(int)
    assert np.abs(a - b).mean() < 3.0


def test_homography_registers_a_thermal_camera_of_another_resolution():

    rng = np.random.default_rng(0)
    thermal = rng.integers(0, 256, (64, 80), np.uint8)
    rgb = rng.integers(0, 256, (128, 160, 3), np.uint8)
    with pytest.raises(ShapeError, match='registration.homography'):
        FusionEngine('laplacian', device='cpu').fuse(thermal, rgb)
    engine = FusionEngine('laplacian', device='cpu', homography=[2, 0, 0, 0, 2, 0, 0, 0, 1])
    assert engine.fuse(thermal, rgb).fused.shape == (128, 160, 3)
    # identity is no registration at all; a singular matrix is refused with the reason
    assert FusionEngine('laplacian', device='cpu', homography=np.eye(3)).homography is None
    with pytest.raises(ConfigError, match='singular'):
        FusionEngine('laplacian', device='cpu', homography=[0] * 9)


def test_registration_undoes_the_synthetic_thermal_offset():
    from fusion_ros.data.synthetic import SynthConfig, generate_sequence
    from fusion_ros.registration import warp_thermal

    cfg = SynthConfig(width=160, height=128, seconds=0.1, thermal_offset=(7.0, 5.0, 1.0))
    plain = next(generate_sequence(SynthConfig(width=160, height=128, seconds=0.1)))
    shifted = next(generate_sequence(cfg))
    warped = warp_thermal(shifted.thermal, cfg.homography, (160, 128)).astype(float)
    err = np.abs(warped - plain.thermal)[10:-10, 10:-10].mean()
    assert err < np.abs(shifted.thermal.astype(float) - plain.thermal)[10:-10, 10:-10].mean() / 4


def test_cuda_engines_turn_on_tf32_and_cudnn_autotuning(monkeypatch):
    """Proven without a GPU: an engine on a CUDA device sets the backend flags."""
    import torch

    import fusion_ros.engine.engine as engine_mod

    for flag in ('benchmark', 'allow_tf32'):
        monkeypatch.setattr(torch.backends.cudnn, flag, False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    engine_mod.FusionEngine('max', device='cpu')
    assert not torch.backends.cudnn.benchmark  # the CPU path leaves them alone
    monkeypatch.setattr(engine_mod, 'resolve_device', lambda d: torch.device('cuda'))
    monkeypatch.setattr(engine_mod, 'build_model', lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError('stop after the device set-up')))
    with pytest.raises(RuntimeError, match='stop after'):
        engine_mod.FusionEngine('max', device='cuda')
    assert torch.backends.cudnn.benchmark and torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize('colour', [True, False])
def test_uint8_frames_scaled_on_the_device_match_the_host_conversion(colour):
    """Off the CPU 8-bit frames cross as uint8 (pinned, a quarter of the bytes) and are
    scaled on the device: the same numbers as the host conversion, so the same output."""
    rng = np.random.default_rng(3)
    ir = rng.integers(0, 256, (48, 64), np.uint8)
    vi = rng.integers(0, 256, (48, 64, 3) if colour else (48, 64), np.uint8)
    host = FusionEngine('fastfusion', device='cpu', precision='fp32')
    device_side = FusionEngine('fastfusion', device='cpu', precision='fp32')
    assert not host.upload_uint8  # the CPU default
    device_side.upload_uint8 = True  # what a CUDA engine does
    a, b = host.fuse(ir, vi), device_side.fuse(ir, vi)
    assert np.array_equal(a.fused, b.fused) and np.array_equal(a.enhanced, b.enhanced)
    assert a.day_probability == b.day_probability
    # 16-bit thermal still gets the host's gain control; bad shapes the same errors
    counts = (ir.astype(np.uint16) * 40 + 3000)
    assert np.array_equal(host.fuse(counts, vi).fused, device_side.fuse(counts, vi).fused)
    with pytest.raises(ShapeError, match='single-channel'):
        device_side.fuse(np.zeros((48, 64, 3), np.uint8), vi)
    with pytest.raises(ShapeError, match=r'\(H, W\) or \(H, W, 3\)'):
        device_side.fuse(ir, np.zeros((48, 64, 2), np.uint8))


def test_uint8_upload_layout_and_scale():
    from fusion_ros.ops.convert import visible_to_unit

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    t = array_to_tensor(rgb)
    assert t.shape == (1, 3, 2, 3) and t.dtype == torch.float32
    assert torch.equal(t[0].permute(1, 2, 0), torch.from_numpy(visible_to_unit(rgb)))
    meta = array_to_tensor(rgb[..., 0], 'meta')  # what crosses is shaped before it is scaled
    assert meta.device.type == 'meta' and meta.shape == (1, 1, 2, 3)
    assert meta.dtype == torch.float32

# SPDX-License-Identifier: Apache-2.0
"""Loss terms are computed in fp32 whatever precision the networks run in (bf16 autocast
cancelled SSIM's local variances: SSIM above 1, and DIDFuse diverged under auto)."""

from __future__ import annotations

import contextlib
import csv

import pytest
import torch

from fusion_ros.training import losses as L
from fusion_ros.training.config import load_train_config
from fusion_ros.training.objectives import OBJECTIVES, Objective, build_objective


def _bf16() -> torch.autocast:
    return torch.autocast('cpu', dtype=torch.bfloat16)


def test_ssim_under_autocast_is_the_fp32_value():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 64, 64, generator=g)
    noisy = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    fp32 = float(L.ssim(x, noisy)), float(L.edge_loss(noisy, x, x.flip(-1)))
    with _bf16():
        assert abs(float(L.ssim(x, x)) - 1.0) < 1e-6
        assert float(L.ssim(x, noisy)) == pytest.approx(fp32[0], rel=1e-6)
        assert float(L.edge_loss(noisy, x, x.flip(-1))) == pytest.approx(fp32[1], rel=1e-6)
        # what the loss would be without in_fp32: visibly off (the issue measured SSIM)
        assert abs(float(L.ssim.__wrapped__(x, noisy)) - fp32[0]) > 1e-4


def _objective(name: str) -> Objective:
    cfg = load_train_config(name)
    settings = dict(cfg.settings)
    if name == 'piafusion':
        settings['illumination'] = 'labels'  # no stage-1 file needed
    torch.manual_seed(0)
    objective = build_objective(name, cfg.model_options, cfg.loss, settings).train()
    objective.epoch = 1  # DFVO: fusion terms on
    return objective


def _terms(objective: Objective, batch: tuple[torch.Tensor, ...], autocast,
           replay: list | None = None) -> tuple[dict[str, torch.Tensor], list]:
    """The objective's loss terms with its networks under ``autocast``; with ``replay``,
    each network call still runs but the losses get the recorded outputs instead."""
    outputs: list = []
    run_network = Objective.network.__get__(objective)

    def network(fn, *args):
        out = run_network(fn, *args)
        if replay is not None:
            out = replay[len(outputs)]
        outputs.append(out)
        return out

    objective.network = network
    objective.network_autocast = autocast
    terms, _ = objective.compute(*batch)
    return terms, outputs


@pytest.mark.parametrize('name', sorted(OBJECTIVES))
def test_loss_terms_under_bf16_equal_the_fp32_terms_of_the_same_outputs(name):
    objective = _objective(name)
    g = torch.Generator().manual_seed(1)
    batch = (torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g),
             torch.tensor([1.0, float('nan')]))
    fp32, outputs = _terms(objective, batch, contextlib.nullcontext)
    # the networks in bf16, and the whole call inside autocast too (as a caller that wraps
    # everything, the old trainer, would): the losses still compute in fp32
    with _bf16():
        bf16, _ = _terms(objective, batch, _bf16, replay=outputs)
    assert set(bf16) == set(fp32)
    for key, value in fp32.items():
        assert float(bf16[key].detach()) == pytest.approx(float(value.detach()), rel=1e-5,
                                                          abs=1e-7), key
    # the networks themselves did run in bf16 (their outputs differ; fp32 after the call)
    _, raw = _terms(objective, batch, _bf16)
    pairs = list(zip(_tensors(raw), _tensors(outputs), strict=True))
    assert all(a.dtype == torch.float32 for a, _ in pairs)
    assert any(float((a - b).abs().max()) > 0 for a, b in pairs)


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    elif hasattr(value, '__dataclass_fields__'):
        value = [getattr(value, k) for k in value.__dataclass_fields__]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


@pytest.mark.shared
def test_didfuse_trains_down_under_bf16_autocast(shared_dir, tmp_path):
    """40 steps (batches of four 32-px patches) under bf16 autocast (what ``--precision
    auto`` runs on a CPU with AMX; asked for by name where the CPU computes bf16 natively
    without AMX, auto elsewhere) lower the loss as fp32 does: the mean of the last quarter
    is below the first quarter's."""
    from fusion_ros.cli.main import main
    from fusion_ros.engine.precision import cpu_has_native_bf16

    out = tmp_path / 'run'
    precision = 'bf16' if cpu_has_native_bf16() else 'auto'
    assert main(['train', 'didfuse', '--data', f'pairs:{shared_dir}/data/pairs/roadscene',
                 '--steps', '40', '--batch', '4', '--patch', '32', '--device', 'cpu',
                 '--precision', precision, '--val-fraction', '0', '--out', str(out),
                 '--no-progress']) == 0
    with open(out / 'log.csv') as f:
        losses = [float(row['loss']) for row in csv.DictReader(f)]
    assert len(losses) == 40
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10, losses
    assert all(float(row) >= 0 for row in _column(out / 'log.csv', 'ssim_v'))  # SSIM <= 1


def _column(path, key: str) -> list[str]:
    with open(path) as f:
        return [row[key] for row in csv.DictReader(f)]

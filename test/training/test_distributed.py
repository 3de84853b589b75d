# SPDX-License-Identifier: Apache-2.0
"""Which device each rank trains on, checked with CUDA faked (no GPU here): the choices are
plain arithmetic on the rank variables and the device count, and the mistakes must be
ConfigErrors that name the fix, not NCCL's duplicate-device failure or a raw RuntimeError."""

import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.training import distributed
from fusion_ros.training.distributed import setup_distributed


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    chosen = []
    monkeypatch.setattr(torch.cuda, 'set_device', chosen.append)
    return chosen


@pytest.fixture
def rank_one_of_two(monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('LOCAL_RANK', '1')
    joined = []
    monkeypatch.setattr(distributed.dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(distributed.dist, 'init_process_group', joined.append)
    monkeypatch.setattr(distributed.dist, 'get_rank', lambda: 1)
    monkeypatch.setattr(distributed.dist, 'get_world_size', lambda: 2)
    return joined


def test_each_torchrun_rank_takes_its_local_gpu(two_gpus, rank_one_of_two):
    ctx = setup_distributed('cuda')
    assert ctx.device == torch.device('cuda', 1) and two_gpus == [torch.device('cuda', 1)]
    assert ctx.backend == 'nccl' and rank_one_of_two == ['nccl']
    assert setup_distributed('auto').device == torch.device('cuda', 1)


def test_an_explicit_gpu_under_torchrun_is_refused_by_name(two_gpus, rank_one_of_two):
    with pytest.raises(ConfigError, match='all 2 ranks on one GPU.*--device cuda'):
        setup_distributed('cuda:0')
    assert rank_one_of_two == []  # refused before joining the group


def test_single_process_device_choices(two_gpus, monkeypatch):
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    assert setup_distributed('cuda:1').device == torch.device('cuda', 1)
    assert setup_distributed('cuda').device == torch.device('cuda', 0)
    assert setup_distributed('cpu').device == torch.device('cpu')
    with pytest.raises(ConfigError, match=r'no CUDA device 5 \(this machine has 2'):
        setup_distributed('cuda:5')
    with pytest.raises(ConfigError, match='cuda or cuda:N'):
        setup_distributed('cuda:x')
    with pytest.raises(ConfigError, match='cuda or cuda:N'):
        setup_distributed('gpu')


def test_cuda_asked_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ConfigError, match='no CUDA device'):
        setup_distributed('cuda')
    assert setup_distributed('auto').device == torch.device('cpu')

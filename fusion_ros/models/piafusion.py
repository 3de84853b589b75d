# SPDX-License-Identifier: Apache-2.0
"""PIAFusion (Tang et al., Information Fusion 2022, seed 002): the illumination classifier.

The day/night classifier that weights PIAFusion's illumination-aware loss, written from the
paper and the authors' code (TensorFlow) and its PyTorch port. It loads the port's released
``illumination_classifier_pytorch_port.pth`` as is. The fusion network follows (#3).

Classifier: four 4x4 stride-2 convolutions with reflect padding 1 (16, 32, 64, 128
channels, LeakyReLU with slope 0.01 in the port, measured: 0.2 misses the port's reference
outputs by 17.9), global average pooling, Linear 128->128 (no activation),
Linear 128->2, then ReLU (port) or abs (TensorFlow). Output order [day, night]; both can be
0, so probabilities are guarded against 0/0. 189,810 parameters.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.ops.shape import check_shape

__all__ = ['IlluminationClassifier', 'illumination_probabilities',
           'load_illumination_classifier']

HEADS = ('relu', 'abs')


class _DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, slope: float) -> None:
        super().__init__()
        # index 0 = pad, 1 = conv: the port's key names (convN.conv.1.weight)
        self.conv = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 4, stride=2),
                                  nn.LeakyReLU(slope))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class IlluminationClassifier(nn.Module):
    """Day/night classifier on the visible RGB image.

    Args:
        slope: LeakyReLU negative slope (0.01: the PyTorch port whose weights we load).
        head: ``relu`` (PyTorch port, default) or ``abs`` (TensorFlow original).

    Shape:
        rgb: :math:`(B, 3, H, W)` in [0, 1], whole image (H, W >= 16); output :math:`(B, 2)`
        non-negative scores [day, night].

    Example:
        >>> IlluminationClassifier()(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 2])
    """

    def __init__(self, slope: float = 0.01, head: str = 'relu') -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f'head must be one of {HEADS}, got {head!r}')
        self.head = head
        self.conv1 = _DownBlock(3, 16, slope)
        self.conv2 = _DownBlock(16, 32, slope)
        self.conv3 = _DownBlock(32, 64, slope)
        self.conv4 = _DownBlock(64, 128, slope)
        self.linear1 = nn.Linear(128, 128)
        self.linear2 = nn.Linear(128, 2)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        check_shape(rgb, ['B', '3', 'H', 'W'])
        x = self.conv4(self.conv3(self.conv2(self.conv1(rgb))))
        x = self.linear2(self.linear1(F.adaptive_avg_pool2d(x, 1).flatten(1)))
        return F.relu(x) if self.head == 'relu' else x.abs()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_illumination_classifier(path: Path | str, **options: object) -> IlluminationClassifier:
    """Build the classifier and load a state dict (the port's ``.pth``) strictly, eval mode."""
    from fusion_ros.models._builder import load_state_dict, load_strict

    model = IlluminationClassifier(**options)  # type: ignore[arg-type]
    load_strict(model, load_state_dict(path), str(path))
    return model.eval()


def illumination_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """[day, night] scores -> probabilities (P_d = s_d / (s_d + s_n)); 0/0 gives 0.5 each."""
    total = scores.sum(1, keepdim=True)
    return torch.where(total > 0, scores / total.clamp_min(1e-12),
                       torch.full_like(scores, 0.5))

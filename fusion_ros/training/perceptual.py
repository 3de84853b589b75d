# SPDX-License-Identifier: Apache-2.0
"""A frozen ResNet-18 feature extractor for DFVO's perceptual term (no torchvision).

The layer names match torchvision's ``resnet18`` state dict, so ImageNet weights saved from
it (``torch.save(resnet18(weights=...).state_dict(), path)``) load here with
``weights_only=True``; ``fc.*`` is ignored. Nothing is downloaded: without a path there is
no perceptual term. The parameters are frozen, but unlike the authors' code the features are
*not* computed under ``no_grad``, so the term's gradient reaches the enhancement head.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ['ResNet18Features', 'load_resnet18_features']

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(out + skip)


class ResNet18Features(nn.Module):
    """ResNet-18 up to ``layer4`` (no pooling, no classifier), on RGB in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = (64, 64, 128, 256, 512)
        for i in range(1, 5):
            stride = 1 if i == 1 else 2
            setattr(self, f'layer{i}', nn.Sequential(
                _BasicBlock(chans[i - 1], chans[i], stride), _BasicBlock(chans[i], chans[i], 1)))
        self.register_buffer('mean', torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1((rgb - self.mean) / self.std))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_resnet18_features(path: Path | str) -> ResNet18Features:
    """Frozen, eval-mode features with torchvision-layout weights from ``path``.

    Raises:
        WeightsError: unreadable file or keys/shapes that are not ResNet-18's.
    """
    from fusion_ros.models._builder import load_state_dict, load_strict

    state = {k: v for k, v in load_state_dict(path).items() if not k.startswith('fc.')}
    model = ResNet18Features()
    load_strict(model, state, str(path))
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()

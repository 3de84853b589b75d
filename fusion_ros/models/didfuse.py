# SPDX-License-Identifier: Apache-2.0
"""DIDFuse: deep image decomposition for infrared and visible image fusion.

Zhao, Xu, Zhang, Liu, Li, Zhang. IJCAI 2020 (seed 001). Architecture and test-time fusion
rules from the paper and the authors' public code; written from those facts. Loads the
authors' released ``Encoder_weight_IJCAI.pkl`` / ``Decoder_weight_IJCAI.pkl``.

The encoder splits an image into a base (low-frequency, tanh) and a detail (tanh) feature
map; at test time both images are encoded, the four feature maps (f1, f2, base, detail) are
fused pair-wise with a rule (sum, average or L1-norm weighting) and decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.errors import WeightsError
from fusion_ros.models._base import FusionModel, FusionOutput, ReflectionPad
from fusion_ros.models._registry import register_model
from fusion_ros.ops.shape import check_fusion_inputs

__all__ = ['DIDFuse', 'FUSION_RULES', 'checkpoint_filter_fn']

FUSION_RULES = ('sum', 'average', 'l1_norm')
OFFICIAL_FILES = ('Encoder_weight_IJCAI.pkl', 'Decoder_weight_IJCAI.pkl')


def _conv_bn(cin: int, cout: int, act: nn.Module, reflect: bool) -> nn.Sequential:
    """3x3 conv + BN + activation; reflect-padded (index 0 = pad) or zero-padded."""
    if reflect:
        return nn.Sequential(ReflectionPad(1), nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout),
                             act)
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), act)


class DIDFuseEncoder(nn.Module):
    """Image :math:`(B, 1, H, W)` -> base, detail, f1, f2, each :math:`(B, 64, H, W)`."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.cov1 = _conv_bn(1, channels, nn.PReLU(), reflect=True)
        self.cov2 = _conv_bn(channels, channels, nn.PReLU(), reflect=False)
        self.cov3 = _conv_bn(channels, channels, nn.Tanh(), reflect=False)  # base
        self.cov4 = _conv_bn(channels, channels, nn.Tanh(), reflect=False)  # detail

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f1 = self.cov1(x)
        f2 = self.cov2(f1)
        return self.cov3(f2), self.cov4(f2), f1, f2


class DIDFuseDecoder(nn.Module):
    """(base, detail, f1, f2) -> image :math:`(B, 1, H, W)` in [0, 1]."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.cov5 = _conv_bn(2 * channels, channels, nn.PReLU(), reflect=False)
        self.cov6 = _conv_bn(2 * channels, channels, nn.PReLU(), reflect=False)
        self.cov7 = _conv_bn(2 * channels, 1, nn.Sigmoid(), reflect=True)

    def forward(self, base: torch.Tensor, detail: torch.Tensor, f1: torch.Tensor,
                f2: torch.Tensor) -> torch.Tensor:
        x = self.cov5(torch.cat((base, detail), 1))
        x = self.cov6(torch.cat((x, f2), 1))
        return self.cov7(torch.cat((x, f1), 1))


def _fuse(a: torch.Tensor, b: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == 'sum':
        return a + b
    if rule == 'average':
        return 0.5 * (a + b)
    # l1_norm: activity = channel-wise L1 norm smoothed by a 3x3 box, weights normalised
    act_a = F.avg_pool2d(a.abs().sum(1, keepdim=True), 3, stride=1, padding=1,
                         count_include_pad=False)
    act_b = F.avg_pool2d(b.abs().sum(1, keepdim=True), 3, stride=1, padding=1,
                         count_include_pad=False)
    w_a = act_a / (act_a + act_b).clamp_min(1e-12)
    return w_a * a + (1 - w_a) * b


class DIDFuse(FusionModel):
    """DIDFuse fusion network (inference).

    Args:
        fusion_rule: ``sum`` (the authors' default and released outputs), ``average`` or
            ``l1_norm``.
        channels: feature channels (64 in the paper).

    Shape:
        thermal, visible_y: :math:`(B, 1, H, W)` in [0, 1]; fused: :math:`(B, 1, H, W)`.

    Example:
        >>> model = DIDFuse().eval()
        >>> model(torch.rand(1, 1, 16, 20), torch.rand(1, 1, 16, 20)).fused.shape
        torch.Size([1, 1, 16, 20])
    """

    needs_weights = True
    # ours, trained here on the shared pairs (models/didfuse.md); the authors' release
    # still loads with weights=FOLDER
    default_weights = 'models/didfuse.pt'
    auto_precision = True
    auto_runtime = True  # OpenVINO on CPUs, bf16 with AMX (engine.runtimes)
    option_ranges = {'channels': (1, 1024)}
    fp32_modules = ('decoder.cov7',)  # the output conv + sigmoid
    min_size = 2
    weight_formats = ('didfuse-release',)

    def __init__(self, fusion_rule: str = 'sum', channels: int = 64) -> None:
        super().__init__()
        if fusion_rule not in FUSION_RULES:
            raise ValueError(f'fusion_rule must be one of {FUSION_RULES}, got {fusion_rule!r}')
        self.fusion_rule = fusion_rule
        self.encoder = DIDFuseEncoder(channels)
        self.decoder = DIDFuseDecoder(channels)

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        feats_ir = self.encoder(thermal)
        feats_vi = self.encoder(visible_y)
        fused = [_fuse(i, v, self.fusion_rule) for i, v in zip(feats_ir, feats_vi)]
        return FusionOutput(fused=self.decoder(*fused))

    def reconstruct(self, image: torch.Tensor) -> torch.Tensor:
        """Encode and decode one image (the training objective)."""
        return self.decoder(*self.encoder(image))

    def load_weights(self, path: Path | str, fmt: str | None = None) -> None:
        """Load our checkpoint (a file) or the authors' release (the folder with both .pkl)."""
        from fusion_ros.models._builder import load_state_dict, load_strict

        path = Path(path)
        if fmt == 'didfuse-release' and not path.is_dir():
            raise WeightsError(f'format didfuse-release is a folder holding {OFFICIAL_FILES}; '
                               f'{str(path)!r} is not a folder')
        if path.is_dir():
            missing = [n for n in OFFICIAL_FILES if not (path / n).is_file()]
            if missing:
                raise WeightsError(f'{str(path)!r} lacks the DIDFuse release file(s) {missing}')
            state = checkpoint_filter_fn(load_state_dict(path / OFFICIAL_FILES[0]),
                                         load_state_dict(path / OFFICIAL_FILES[1]))
        else:
            state = load_state_dict(path)
        load_strict(self, state, str(path))


def checkpoint_filter_fn(encoder: Mapping[str, torch.Tensor],
                         decoder: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the authors' two state dicts (keys ``covN.covN.*``) onto ours (``encoder.covN.*``)."""
    out = {}
    for prefix, state in (('encoder', encoder), ('decoder', decoder)):
        for key, value in state.items():
            head, _, rest = key.partition('.')
            if rest.startswith(head + '.'):
                rest = rest[len(head) + 1:]
            out[f'{prefix}.{head}.{rest}'] = value
    return out


@register_model
def didfuse(**kwargs: object) -> DIDFuse:
    """DIDFuse (IJCAI 2020); ``fusion_rule`` = sum | average | l1_norm."""
    return DIDFuse(**kwargs)  # type: ignore[arg-type]

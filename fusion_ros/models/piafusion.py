# SPDX-License-Identifier: Apache-2.0
"""PIAFusion (Tang et al., Information Fusion 2022, seed 002): fusion net and classifier.

Written from the paper, the authors' TensorFlow code and its PyTorch port. The classifier
loads the port's released ``illumination_classifier_pytorch_port.pth`` as is; the fusion net
loads the port's state-dict layout (``flavour='port'``) or our own checkpoints.

Fusion net: per-modality 1x1 conv 1->16, four 3x3 reflect-padded convs 16->16->32->64->128
(shared between IR and VI in the TensorFlow original), CMDAF after the first three of them,
concatenation (256), reconstructor 256->256->128->64->32, 1x1 32->1, tanh head.
The three sources differ; ``flavour`` picks one set of defaults, each overridable:

============  ============  ===========  ======  ===========  =================
flavour       share_weights cmdaf_sign   slope   head         colour
============  ============  ===========  ======  ===========  =================
``tf``        True          ``tf``       0.2     tanh_half    bt601_studio_tf
``port``      False         ``paper``    0.01    tanh_half    bt601_full
``paper``     True          ``paper``    0.2     tanh         bt601_full
============  ============  ===========  ======  ===========  =================

``tf`` (default) is what produced the published numbers. CMDAF ``paper`` (Eq. 5):
F_vi += sigmoid(GAP(F_ir - F_vi)) * (F_ir - F_vi); the TensorFlow code adds the opposite
difference (F_vi - F_ir) with the same gate, with a comment doubting it. ``tanh_half`` is
tanh(x)/2 + 0.5 (both codes); ``tanh`` is the paper's plain tanh, clamped to [0, 1].
1,076,785 parameters shared, 1,176,097 unshared.

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

from fusion_ros.errors import ConfigError, WeightsError
from fusion_ros.models._base import FusionModel, FusionOutput, ReflectionPad
from fusion_ros.models._registry import register_model
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.ops.shape import check_fusion_inputs, check_shape

__all__ = ['FLAVOURS', 'IlluminationClassifier', 'PIAFusion', 'bundled_classifier',
           'illumination_probabilities', 'load_illumination_classifier']

HEADS = ('relu', 'abs')
FUSION_HEADS = ('tanh_half', 'tanh')
CMDAF_SIGNS = ('paper', 'tf')
FLAVOURS: dict[str, dict[str, object]] = {
    'tf': {'share_weights': True, 'cmdaf_sign': 'tf', 'slope': 0.2, 'head': 'tanh_half',
           'colour': 'bt601_studio_tf'},
    'port': {'share_weights': False, 'cmdaf_sign': 'paper', 'slope': 0.01,
             'head': 'tanh_half', 'colour': 'bt601_full'},
    'paper': {'share_weights': True, 'cmdaf_sign': 'paper', 'slope': 0.2, 'head': 'tanh',
              'colour': 'bt601_full'},
}


class _DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, slope: float) -> None:
        super().__init__()
        # index 0 = pad, 1 = conv: the port's key names (convN.conv.1.weight)
        self.conv = nn.Sequential(ReflectionPad(1), nn.Conv2d(cin, cout, 4, stride=2),
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
            raise ConfigError(f'head must be one of {HEADS}, got {head!r}')
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


def bundled_classifier(state: dict[str, torch.Tensor], meta: dict[str, object]
                       ) -> tuple[dict[str, torch.Tensor], dict[str, object]] | None:
    """The stage-1 part of a two-stage PIAFusion file (``classifier.*`` keys and its
    ``classifier_options``), or None for a file without one."""
    part = {k.removeprefix('classifier.'): v for k, v in state.items()
            if k.startswith('classifier.')}
    if not part:
        return None
    options = meta.get('classifier_options')
    return part, dict(options) if isinstance(options, dict) else {}


def load_illumination_classifier(path: Path | str, **options: object) -> IlluminationClassifier:
    """Build the classifier and load a state dict (the port's ``.pth``) strictly, eval mode.

    Our training exports carry their ``model_options`` (e.g. ``head='abs'``): they apply
    unless ``options`` says otherwise; None values are ignored.
    """
    from fusion_ros.models._builder import load_strict, read_checkpoint

    state, meta = read_checkpoint(path)
    saved = meta.get('model_options') if isinstance(meta.get('model_options'), dict) else {}
    bundled = bundled_classifier(state, meta)  # a shipped PIAFusion file (both stages)
    if bundled is not None:
        state, saved = bundled
    chosen = {**saved, **{k: v for k, v in options.items() if v is not None}}
    model = IlluminationClassifier(**chosen)  # type: ignore[arg-type]
    load_strict(model, state, str(path))
    return model.eval()


def illumination_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """[day, night] scores -> probabilities (P_d = s_d / (s_d + s_n)); 0/0 gives 0.5 each."""
    total = scores.sum(1, keepdim=True)
    return torch.where(total > 0, scores / total.clamp_min(1e-12),
                       torch.full_like(scores, 0.5))


class _ReflectConv(nn.Module):
    """3x3 reflect-padded conv; index 1 of ``conv`` is the port's key (``convN.conv.1.*``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(ReflectionPad(1), nn.Conv2d(cin, cout, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def cmdaf(f_vi: torch.Tensor, f_ir: torch.Tensor,
          sign: str = 'paper') -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-modality differential aware fusion (paper Eq. 5, or the TensorFlow sign)."""
    d_ir_vi = f_ir - f_vi
    gate_vi = torch.sigmoid(d_ir_vi.mean((2, 3), keepdim=True))  # gates F_vi's update
    gate_ir = torch.sigmoid((-d_ir_vi).mean((2, 3), keepdim=True))
    if sign == 'paper':
        return f_vi + gate_vi * d_ir_vi, f_ir - gate_ir * d_ir_vi
    return f_vi - gate_vi * d_ir_vi, f_ir + gate_ir * d_ir_vi


class PIAFusionEncoder(nn.Module):
    """Two-stream feature extractor with CMDAF; ``share_weights`` ties the 3x3 convs."""

    _CHANNELS = ((16, 16), (16, 32), (32, 64), (64, 128))

    def __init__(self, share_weights: bool, slope: float, cmdaf_sign: str) -> None:
        super().__init__()
        self.share_weights = share_weights
        self.cmdaf_sign = cmdaf_sign
        self.act = nn.LeakyReLU(slope)
        self.vi_conv1 = nn.Conv2d(1, 16, 1)
        self.ir_conv1 = nn.Conv2d(1, 16, 1)
        for i, (cin, cout) in enumerate(self._CHANNELS, start=2):
            if share_weights:
                setattr(self, f'conv{i}', _ReflectConv(cin, cout))
            else:
                setattr(self, f'vi_conv{i}', _ReflectConv(cin, cout))
                setattr(self, f'ir_conv{i}', _ReflectConv(cin, cout))

    def _convs(self, i: int) -> tuple[nn.Module, nn.Module]:
        if self.share_weights:
            conv = getattr(self, f'conv{i}')
            return conv, conv
        return getattr(self, f'vi_conv{i}'), getattr(self, f'ir_conv{i}')

    def forward(self, vi: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vi, ir = self.act(self.vi_conv1(vi)), self.act(self.ir_conv1(ir))
        for i in range(2, 6):
            conv_vi, conv_ir = self._convs(i)
            vi, ir = self.act(conv_vi(vi)), self.act(conv_ir(ir))
            if i < 5:
                vi, ir = cmdaf(vi, ir, self.cmdaf_sign)
        return vi, ir


class PIAFusionDecoder(nn.Module):
    """Image reconstructor 256->256->128->64->32->1."""

    def __init__(self, slope: float, head: str) -> None:
        super().__init__()
        self.head = head
        self.act = nn.LeakyReLU(slope)
        self.conv1 = _ReflectConv(256, 256)
        self.conv2 = _ReflectConv(256, 128)
        self.conv3 = _ReflectConv(128, 64)
        self.conv4 = _ReflectConv(64, 32)
        self.conv5 = nn.Conv2d(32, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.act(conv(x))
        x = torch.tanh(self.conv5(x))
        return x / 2 + 0.5 if self.head == 'tanh_half' else x.clamp(0.0, 1.0)


class PIAFusion(FusionModel):
    """PIAFusion fusion network (halfway fusion with CMDAF).

    Args:
        flavour: ``tf`` (default), ``port`` or ``paper``: a set of defaults (module docstring).
        share_weights, cmdaf_sign, slope, head, colour: override one flavour default.

    Shape:
        thermal, visible_y: :math:`(B, 1, H, W)` in [0, 1] (H, W >= 2); fused the same.

    Example:
        >>> model = PIAFusion(flavour='port').eval()
        >>> model(torch.rand(1, 1, 8, 10), torch.rand(1, 1, 8, 10)).fused.shape
        torch.Size([1, 1, 8, 10])
    """

    needs_weights = True
    default_weights = 'models/piafusion.pt'  # ours, both stages: models/piafusion.md
    auto_precision = True
    auto_runtime = True  # OpenVINO on CPUs, bf16 with AMX (engine.runtimes)
    fp32_modules = ('decoder.conv5',)  # the 1x1 output conv before tanh
    min_size = 2
    weight_formats = ('piafusion-port',)

    def __init__(self, flavour: str = 'tf', *, share_weights: bool | None = None,
                 cmdaf_sign: str | None = None, slope: float | None = None,
                 head: str | None = None, colour: str | None = None) -> None:
        super().__init__()
        if flavour not in FLAVOURS:
            raise ConfigError(f'flavour must be one of {list(FLAVOURS)}, got {flavour!r}')
        given = {'share_weights': share_weights, 'cmdaf_sign': cmdaf_sign, 'slope': slope,
                 'head': head, 'colour': colour}
        opts = {**FLAVOURS[flavour], **{k: v for k, v in given.items() if v is not None}}
        if opts['cmdaf_sign'] not in CMDAF_SIGNS:
            raise ConfigError(f'cmdaf_sign must be one of {CMDAF_SIGNS}, got {cmdaf_sign!r}')
        if opts['head'] not in FUSION_HEADS:
            raise ConfigError(f'head must be one of {FUSION_HEADS}, got {head!r}')
        if opts['colour'] not in COLOUR_TRANSFORMS:
            raise ConfigError(f'colour must be one of {list(COLOUR_TRANSFORMS)}, got {colour!r}')
        self.flavour = flavour
        self.options = opts
        self.colour = str(opts['colour'])
        self.encoder = PIAFusionEncoder(bool(opts['share_weights']), float(opts['slope']),
                                        str(opts['cmdaf_sign']))
        self.decoder = PIAFusionDecoder(float(opts['slope']), str(opts['head']))
        # stage 1, when the weights carry it ('classifier.*' keys): P(day) for the node
        self.classifier: IlluminationClassifier | None = None

    def illumination(self, rgb: torch.Tensor) -> torch.Tensor | None:
        if self.classifier is None or min(rgb.shape[-2:]) < 16:  # four stride-2 convs
            return None
        return illumination_probabilities(self.classifier(rgb).float())[:, 0]

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        check_fusion_inputs(thermal, visible_y)
        vi, ir = self.encoder(visible_y, thermal)
        return FusionOutput(fused=self.decoder(torch.cat((vi, ir), 1)))

    def load_weights(self, path: Path | str, fmt: str | None = None) -> None:
        """Load our checkpoint or the port's fusion layout (needs ``share_weights=False``).

        A checkpoint with ``classifier.*`` keys (ours, trained in two stages) also brings the
        illumination classifier, which then gives :meth:`illumination`.

        The port layout is our unshared layout, so ``fmt`` only changes the error message.
        """
        from fusion_ros.models._builder import load_strict, read_checkpoint

        state, meta = read_checkpoint(path)
        bundled = bundled_classifier(state, meta)  # our shipped file: both stages
        if bundled is not None:
            self.classifier = IlluminationClassifier(**bundled[1])  # type: ignore[arg-type]
        port = fmt == 'piafusion-port' or any('.vi_conv2.' in k for k in state)
        if self.encoder.share_weights and port:
            raise WeightsError(
                f'{str(path)!r} has separate IR/VI extractor weights (the PyTorch port layout) '
                "but this PIAFusion shares them: build it with flavour='port' "
                '(or share_weights=False)')
        try:
            load_strict(self, state, str(path))
        except WeightsError:
            self.classifier = None  # no half-loaded classifier giving random P(day)
            raise


@register_model
def piafusion(**kwargs: object) -> PIAFusion:
    """PIAFusion (Information Fusion 2022); flavour = tf | port | paper."""
    return PIAFusion(**kwargs)  # type: ignore[arg-type]

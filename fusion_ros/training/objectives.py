# SPDX-License-Identifier: Apache-2.0
"""What each model is trained to do: a batch of patches in, named losses out.

An objective is an ``nn.Module`` around the model, so DistributedDataParallel can wrap the
whole training forward (encoder + decoders + loss) as one call. ``forward`` returns a dict
of scalar losses with the weighted sum under ``total``; ``compute`` also returns the fused
image when the loss produced it, which validation scores (``fused`` runs the fusion
forward for models trained otherwise); ``export`` is the state dict the engine loads.
Loss weights come from ``config/train/*.yaml`` (defaults: REFERENCE_NOTES).

Precision: only the networks run under the trainer's autocast (:meth:`Objective.network`);
their outputs come back in fp32 and every loss term is computed in fp32. bf16 keeps 8 bits
of mantissa: SSIM's local variances (E[x²] - E[x]²) cancel catastrophically in it (DIDFuse
diverged under bf16 autocast: SSIM above 1) and every term moves in coarse steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.errors import ConfigError
from fusion_ros.models import build_model
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.ops.illumination import luminance_day_probability
from fusion_ros.training import losses as L

__all__ = ['OBJECTIVES', 'Objective', 'as_fp32', 'build_objective']


def as_fp32(value: Any) -> Any:
    """``value`` with every floating-point tensor in it as fp32: a tensor, a tuple, list or
    dict of them, or a dataclass of them (a model's ``FusionOutput``)."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: as_fp32(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, (tuple, list)):
        return type(value)(as_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: as_fp32(v) for k, v in value.items()}
    return value


def weighted_sum(w: Mapping[str, float], terms: Mapping[str, torch.Tensor],
                 names: tuple[str, ...], optional: tuple[str, ...] = ()) -> torch.Tensor:
    """sum of ``w[name] * terms[name]`` in the order given (each term and weight must be
    there), then of the ``optional`` ones that are (a missing weight or term counts 0)."""
    total: Any = 0.0
    for name in names:
        total = total + w[name] * terms[name]
    for name in optional:
        total = total + w.get(name, 0.0) * terms.get(name, 0.0)
    return total


class Objective(nn.Module):
    """Base: ``model`` (registry name ``model_name``) plus the loss weights ``w``.

    Subclasses implement :meth:`compute`, which returns the losses and, when the loss
    already ran the fusion forward, the fused image (validation scores it without a
    second forward). ``settings.batchnorm: frozen`` trains every BatchNorm of the model on
    its fixed running statistics (a learnable affine), ``batch`` (default) on each batch's.
    """

    model_name = ''

    def __init__(self, options: Mapping[str, Any], weights: Mapping[str, float],
                 settings: Mapping[str, Any]) -> None:
        super().__init__()
        self.model = self.build(options).train()
        self.w = dict(weights)
        self.settings = dict(settings)
        self.epoch = 0  # 0-based; set by the trainer before each epoch
        self.frozen: list[nn.Module] = []  # kept in eval mode whatever train() says
        if self.settings.get('batchnorm', 'batch') not in ('batch', 'frozen'):
            raise ConfigError(f"settings.batchnorm must be 'batch' or 'frozen', got "
                              f"{self.settings['batchnorm']!r}")
        self.day_classifier = self.freeze(_load_classifier(self.settings.get('day_classifier')))
        # the trainer's autocast for the networks (set by it; none: fp32 throughout)
        self.network_autocast: Callable[[], contextlib.AbstractContextManager[Any]] = (
            contextlib.nullcontext)

    def network(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (a network, or a function of networks) under the trainer's
        autocast, its tensors returned in fp32 for the loss terms (module docstring)."""
        with self.network_autocast():
            out = fn(*args)
        return as_fp32(out)

    def build(self, options: Mapping[str, Any]) -> nn.Module:
        return build_model(self.model_name, pretrained=False, **dict(options))

    def freeze(self, module: nn.Module | None) -> nn.Module | None:
        """No gradients, eval mode for good (a frozen helper network)."""
        if module is not None:
            for p in module.parameters():
                p.requires_grad_(False)
            self.frozen.append(module.eval())
        return module

    def train(self, mode: bool = True) -> Objective:
        super().train(mode)
        for module in self.frozen:
            module.eval()
        if self.settings.get('batchnorm') == 'frozen':
            # BatchNorm as a learnable affine on fixed statistics: the training forward is
            # the inference one, so the net cannot lean on each batch's own statistics
            # (DFVO's fused output went flat in eval mode when it did)
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def luminance(self, rgb: torch.Tensor) -> torch.Tensor:
        """Y (first channel) with the transform the model fuses in."""
        return COLOUR_TRANSFORMS[getattr(self.model, 'colour', 'bt601_full')][0](rgb)[:, :1]

    def edge_term(self, terms: dict[str, torch.Tensor], fused: torch.Tensor,
                  ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor | float:
        """``w['edge']`` x (1 - soft Qabf of ``fused`` against the raw inputs; every source
        edge at its own strength and orientation, the weaker one's too), recorded in
        ``terms['edge']``; 0 (and no term) without an edge weight."""
        if not self.w.get('edge', 0.0):
            return 0.0
        terms['edge'] = L.edge_loss(fused, ir, y)
        return self.w['edge'] * terms['edge']

    def day_weights(self, rgb: torch.Tensor, day: torch.Tensor) -> torch.Tensor:
        """P(day) per sample: the data's label where it has one, else a trained illumination
        classifier on the patch (``settings.day_classifier``), else the luminance estimate."""
        day = day.to(rgb)
        # no `if unknown.any()`: that reads the GPU's answer back every step (a sync) and
        # cannot run on the meta device; the estimate is cheap next to the step
        estimate = (self.network(_classifier_day, self.day_classifier, rgb)
                    if self.day_classifier is not None
                    else luminance_day_probability(self.luminance(rgb)))
        return torch.where(torch.isnan(day), estimate.to(day.dtype), day)

    def fused(self, ir: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor | None:
        """The fused luminance validation scores (None: the model does not fuse)."""
        return self.network(self.model, ir, self.luminance(rgb)).fused

    def export(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def import_state(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`export`: the trained model's own keys (``--init``)."""
        return dict(state)

    def export_meta(self) -> dict[str, Any]:
        """Plain values stored beside the exported weights (read back by the model)."""
        return {}

    def forward(self, ir: torch.Tensor, rgb: torch.Tensor,
                day: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.compute(ir, rgb, day)[0]

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        raise NotImplementedError


def _load_classifier(path: str | None) -> nn.Module | None:
    if not path:
        return None
    from fusion_ros.models.piafusion import load_illumination_classifier

    return load_illumination_classifier(path)


def _classifier_day(classifier: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    """P(day) per sample from PIAFusion's illumination classifier (no gradient)."""
    from fusion_ros.models.piafusion import illumination_probabilities

    with torch.no_grad():
        return illumination_probabilities(classifier(rgb))[:, 0]


class PIAFusionClassifierObjective(Objective):
    """PIAFusion stage 1: cross-entropy of the illumination classifier on day/night patches
    (labels from the data; unlabelled patches by the luminance estimate)."""

    def build(self, options: Mapping[str, Any]) -> nn.Module:
        from fusion_ros.models.piafusion import IlluminationClassifier

        try:
            return IlluminationClassifier(**dict(options))
        except (TypeError, ValueError) as err:
            raise ConfigError(f'bad classifier options: {err}') from err

    def labels(self, rgb: torch.Tensor, day: torch.Tensor) -> torch.Tensor:
        return (self.day_weights(rgb, day) < 0.5).long()  # class 0 day, 1 night

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], None]:
        scores = self.network(self.model, rgb)
        labels = self.labels(rgb, day)
        ce = F.cross_entropy(scores, labels)
        accuracy = (scores.argmax(1) == labels).float().mean().detach()
        return {'total': self.w.get('cross_entropy', 1.0) * ce, 'cross_entropy': ce,
                'accuracy': accuracy}, None

    def fused(self, ir: torch.Tensor, rgb: torch.Tensor) -> None:
        return None


class PIAFusionObjective(Objective):
    """PIAFusion stage 2: the illumination-aware loss weighted by the frozen classifier on
    each patch (``illumination: classifier``), or by the data's labels / the luminance."""

    model_name = 'piafusion'

    def __init__(self, options: Mapping[str, Any], weights: Mapping[str, float],
                 settings: Mapping[str, Any]) -> None:
        super().__init__(options, weights, settings)
        self.source = self.settings.get('illumination', 'classifier')
        if self.source not in ('classifier', 'labels'):
            raise ConfigError(f"illumination must be 'classifier' or 'labels', got "
                              f'{self.source!r}')
        self.classifier = None
        if self.source == 'classifier':
            path = self.settings.get('classifier')
            if not path:
                raise ConfigError('PIAFusion fusion training needs the stage-1 classifier '
                                  '(--classifier PATH), or illumination: labels')
            self.classifier = self.freeze(_load_classifier(path))

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        y = self.luminance(rgb)
        p_day = (self.network(_classifier_day, self.classifier, rgb)
                 if self.classifier is not None else self.day_weights(rgb, day))
        fused = self.network(self.model, ir, y).fused
        out = L.piafusion_loss(fused, ir, y, p_day, self.settings.get('variant', 'paper'))
        return self._reweight(out, fused, ir, y), fused

    def _reweight(self, out: dict[str, torch.Tensor], fused: torch.Tensor, ir: torch.Tensor,
                  y: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.settings.get('variant', 'paper') == 'paper':
            out['total'] = weighted_sum(self.w, out, ('intensity', 'max', 'texture'))
        out['total'] = out['total'] + self.edge_term(out, fused, ir, y)  # not the authors'
        return out

    def export(self) -> dict[str, torch.Tensor]:
        # the frozen classifier ships inside the fusion file ('classifier.*'), so the node
        # publishes its day probability with model:=piafusion
        state = dict(self.model.state_dict())
        if self.classifier is not None:
            state.update({f'classifier.{k}': v for k, v in self.classifier.state_dict().items()})
        return state

    def import_state(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # a shipped or exported file carries its classifier: --init trains the fusion net
        # (the classifier in use is the one --classifier names)
        return {k: v for k, v in state.items() if not k.startswith('classifier.')}

    def export_meta(self) -> dict[str, Any]:
        if self.classifier is None:
            return {}
        return {'classifier_options': {'head': self.classifier.head}}


class FastFusionObjective(Objective):
    """Our real-time model: PIAFusion's loss on the fused output, Zero-DCE's exposure and
    smoothness on the light curve, BCE on the day head."""

    model_name = 'fastfusion'

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        y = self.luminance(rgb)
        out = self.network(self.model, ir, y)
        p_day = self.day_weights(rgb, day)
        losses = L.piafusion_loss(out.fused, ir, y, p_day, self.settings.get('variant', 'paper'))
        losses['exposure'] = L.exposure_loss(out.enhanced)
        losses['curve_tv'] = L.smoothness_loss(out.enhanced - y)
        losses['day_bce'] = F.binary_cross_entropy(
            out.day_probability.clamp(1e-6, 1 - 1e-6), p_day.to(out.day_probability))
        w = self.w
        losses['total'] = weighted_sum(w, losses, ('intensity', 'max', 'texture', 'exposure',
                                                   'curve_tv', 'day_bce'))
        losses['total'] = losses['total'] + self.edge_term(losses, out.fused, ir, y)
        return losses, out.fused


class DIDFuseObjective(Objective):
    """DIDFuse: each source through the auto-encoder (grey), decomposition + reconstruction."""

    model_name = 'didfuse'

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], None]:
        v = self.luminance(rgb)  # trained as an auto-encoder: fused() runs the fusion rule
        (base_v, detail_v, v_hat), (base_i, detail_i, i_hat) = self.network(
            self._autoencode, v, ir)
        return L.didfuse_loss(v, v_hat, ir, i_hat, base_v, base_i, detail_v, detail_i,
                              self.w), None

    def _autoencode(self, *images: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """(base, detail, reconstruction) of each image."""
        out = []
        for image in images:
            base, detail, f1, f2 = self.model.encoder(image)
            out.append((base, detail, self.model.decoder(base, detail, f1, f2)))
        return out


class DFVOObjective(Objective):
    """DFVO's multi-task loss on the full training model (REFERENCE_NOTES, seed 000).

    The fusion terms are scaled by ``fusion_start`` + ``fusion_per_epoch`` x epoch (0-based,
    as the authors' loop; ``fusion_start`` 0 there). The ResNet-18 perceptual term is on only
    with ``perceptual_weights`` (a torchvision-layout state dict); its gradient then really
    reaches the enhancement head. Without those weights, ``enhance_target: histeq`` gives
    the enhancement head the target the perceptual term stands for, the histogram-equalised
    visible image, in pixel space (:func:`losses.histogram_target_loss`, weight ``enhance``):
    without any target beyond retinex, ``en x il = Y`` is met by a flat ``en`` and an
    illumination map that copies Y, and the fusion targets built from ``en`` go flat too.
    ``fusion_targets: sources`` replaces the fusion terms' targets (the network's own
    enhanced and reconstructed images) with the input visible and IR images;
    ``fusion_targets: equalised`` the same with the visible image histogram-equalised (3x3
    mean against the noise equalisation lifts), the enhancement head's own target.
    ``fusion_terms: max`` replaces the MSE ``sobel`` and ``content`` terms with L1 terms
    towards the per-pixel maximum intensity and gradient (weights ``max_intensity``,
    ``max_texture``; :func:`losses.max_fusion_losses`); ``fusion_terms: tf`` with the
    PIAFusion TensorFlow code's loss (50 x L1 towards 0.7 max + 0.3 the day-weighted mean,
    50 x texture; weight ``tf``), the loss our PIAFusion file was fine-tuned with.
    """

    model_name = 'dfvo'

    def __init__(self, options: Mapping[str, Any], weights: Mapping[str, float],
                 settings: Mapping[str, Any]) -> None:
        options = {**dict(options), 'variant': 'full'}
        super().__init__(options, weights, settings)
        for key, allowed in (('fusion_targets', ('own', 'sources', 'equalised')),
                             ('fusion_terms', ('mse', 'max', 'tf'))):
            value = self.settings.get(key)
            if value is not None and value not in allowed:
                raise ConfigError(f'settings.{key} must be one of {list(allowed)}, got {value!r}')
        self.perceptual = None
        path = self.settings.get('perceptual_weights')
        if path:
            from fusion_ros.training.perceptual import load_resnet18_features

            self.perceptual = self.freeze(load_resnet18_features(path))

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        to_ycc, to_rgb = COLOUR_TRANSFORMS[self.model.colour]
        ycc = to_ycc(rgb)
        y, chroma = ycc[:, :1], ycc[:, 1:]
        out, extras = self.network(self.model.forward_all, ir, y)
        en, il, ir_rec = out.enhanced, extras['illumination'], extras['ir_reconstructed']
        terms = {'ir_rec': F.l1_loss(ir_rec, ir), 'retinex': (en * il - y).abs().mean(),
                 **L.illumination_losses(il, y)}
        en_rgb = to_rgb(torch.cat((en, chroma), 1)).clamp(0, 1)
        w = self.w
        if self.perceptual is not None:
            target = self.network(self.perceptual, L.histogram_equalise(rgb))
            terms['perceptual'] = F.mse_loss(self.network(self.perceptual, en_rgb),
                                             target.detach())
        elif self.settings.get('enhance_target') == 'histeq':
            terms['enhance'] = L.histogram_target_loss(en, y)
        elif self.settings.get('enhance_target') == 'gamma':
            # equalising a 64 px crop turns a flat wall's noise into a uniform target whose
            # best L1 answer is flat grey: the histeq head learnt just that (loss 0.22-0.25)
            terms['enhance'] = L.gamma_target_loss(en, y)
        if w.get('enhance_noise'):
            # equalisation's target leaves the fine detail free, and the head amplified the
            # night frames' noise with the light (median |Laplacian| 1.00 -> 1.75)
            terms['enhance_noise'] = L.noise_excess_loss(en, y)
        en_rgb_t = en_rgb.detach()
        targets = self.settings.get('fusion_targets')
        if targets == 'sources':
            # the inputs themselves (a conventional fusion loss): a warm start for the fusion
            # head while the network's own enhanced / reconstructed images are still poor
            vi_t, ir_t, en_t = y, ir, y
        elif targets == 'equalised':
            # the inputs, the visible one equalised as the enhancement target: at night raw Y
            # is dark, so max(Y, IR) and max(grad Y, grad IR) are the IR image's and the loss
            # itself asks for the visible path to be left out (what the sources runs did)
            vi_t = L.equalised_luminance(y)
            ir_t, en_t = ir, vi_t
        else:
            with torch.no_grad():  # the fusion targets: the network's own outputs, detached
                ir_t, en_t = ir_rec.detach(), en.detach()
                vi_t = L.overexposure_corrected(en_t, en_rgb_t, ir_t)
        fused_rgb = to_rgb(torch.cat((out.fused, chroma), 1))
        terms.update(L.dfvo_fusion_losses(out.fused, fused_rgb, vi_t, ir_t, en_rgb_t, en_t))
        fusion = weighted_sum(w, terms, ('sobel', 'content', 'colour'))
        if self.settings.get('fusion_terms') == 'max':
            # L1 terms towards the brighter pixel and the stronger gradient of the two targets
            # (PIAFusion's max and texture terms): the MSE terms are small next to retinex and
            # let the network leave the visible detail out of the fused image
            terms.update(L.max_fusion_losses(out.fused, vi_t, ir_t))
            fusion = weighted_sum(w, terms, ('max_intensity', 'max_texture', 'colour'))
        elif self.settings.get('fusion_terms') == 'tf':
            # the max term alone pulls every pixel to the brighter source (max's VIF, not its
            # Qabf); 0.3 of the day-weighted mean keeps each source's contrast in the mix
            tf = L.piafusion_loss(out.fused, ir_t, vi_t, self.day_weights(rgb, day), 'tf')
            terms['intensity'], terms['texture'] = tf['intensity'], tf['texture']
            fusion = w.get('tf', 1.0) * tf['total'] + w['colour'] * terms['colour']
        fusion = fusion + self.edge_term(terms, out.fused, ir, y)  # inside the fusion scale
        fusion_scale = (self.settings.get('fusion_start', 0.0)
                        + self.settings.get('fusion_per_epoch', 0.1) * self.epoch)
        # on the batch's device: the trainer stacks every term (a CPU scalar broke CUDA runs)
        terms['fusion_scale'] = torch.tensor(float(fusion_scale), device=out.fused.device)
        terms['total'] = (weighted_sum(w, terms, ('ir_rec', 'retinex', 'il_mg', 'il_smooth'),
                                       ('perceptual', 'enhance', 'enhance_noise'))
                          + fusion_scale * fusion)
        return terms, out.fused

    def fused(self, ir: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        out, _ = self.network(self.model.forward_all, ir, self.luminance(rgb))
        return out.fused

    def export(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()  # full model; the inference variant drops the heads


OBJECTIVES: dict[str, Callable[..., Objective]] = {
    'fastfusion': FastFusionObjective,
    'piafusion': PIAFusionObjective,
    'piafusion-classifier': PIAFusionClassifierObjective,
    'didfuse': DIDFuseObjective,
    'dfvo': DFVOObjective,
}


def build_objective(name: str, options: Mapping[str, Any], weights: Mapping[str, float],
                    settings: Mapping[str, Any]) -> Objective:
    """The objective of trainable model ``name`` (a key of :data:`OBJECTIVES`)."""
    if name not in OBJECTIVES:
        raise ConfigError(f'no trainer for {name!r}; trainable: {sorted(OBJECTIVES)}')
    return OBJECTIVES[name](options, weights, settings)

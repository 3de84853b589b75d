# SPDX-License-Identifier: Apache-2.0
"""DFVO: retinex, illumination, reconstruction, enhancement and fusion terms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from fusion_ros.errors import ConfigError
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.training import losses as L
from fusion_ros.training.objectives.base import (
    Objective,
    register_objective,
    weighted_sum,
)


@register_objective('dfvo')
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
    ``settings.teacher`` (a model name, e.g. ``fastfusion``) with weight ``teacher`` adds
    the base objective's annealed L1 pull towards that model's fused image, inside the
    fusion scale: issue 35's documented fallback, not the authors' method.
    """

    model_name = 'dfvo'
    loss_terms = ('ir_rec', 'retinex', 'il_mg', 'il_smooth', 'perceptual', 'enhance',
                  'enhance_noise', 'sobel', 'content', 'colour', 'max_intensity',
                  'max_texture', 'tf')

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
        fusion = fusion + self.source_terms(terms, out.fused, ir, y)  # inside the fusion scale
        fusion = fusion + self.teacher_term(terms, out.fused, ir, y)
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

# SPDX-License-Identifier: Apache-2.0
"""FastFusion: ours, trained on patches with the edge term (models/fastfusion.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusion_ros.training import losses as L
from fusion_ros.training.objectives.base import (
    Objective,
    register_objective,
    weighted_sum,
)


@register_objective('fastfusion')
class FastFusionObjective(Objective):
    """Our real-time model: PIAFusion's loss on the fused output, Zero-DCE's exposure and
    smoothness on the light curve, BCE on the day head."""

    model_name = 'fastfusion'
    loss_terms = ('intensity', 'max', 'texture', 'exposure', 'curve_tv', 'day_bce', 'map_range')

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
        if w.get('map_range') and out.logits is not None:
            # the maps' logits kept where their sigmoids still learn (training only: a
            # model in eval mode gives no logits, so validation scores without the term)
            losses['map_range'] = L.logit_range_loss(out.logits,
                                                     float(self.settings.get('map_limit', 8.0)))
            losses['total'] = losses['total'] + w['map_range'] * losses['map_range']
        losses['total'] = losses['total'] + self.source_terms(losses, out.fused, ir, y,
                                                                 p_day)
        return losses, out.fused

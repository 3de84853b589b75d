# SPDX-License-Identifier: Apache-2.0
"""PIAFusion's two stages: the illumination classifier, then the fusion network it weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ros.errors import ConfigError
from fusion_ros.training import losses as L
from fusion_ros.training.objectives.base import (
    Objective,
    _classifier_day,
    _load_classifier,
    register_objective,
    weighted_sum,
)


@register_objective('piafusion-classifier')
class PIAFusionClassifierObjective(Objective):
    """PIAFusion stage 1: cross-entropy of the illumination classifier on day/night patches
    (labels from the data; unlabelled patches by the luminance estimate)."""

    loss_terms = ('cross_entropy',)

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


@register_objective('piafusion')
class PIAFusionObjective(Objective):
    """PIAFusion stage 2: the illumination-aware loss weighted by the frozen classifier on
    each patch (``illumination: classifier``), or by the data's labels / the luminance."""

    model_name = 'piafusion'
    loss_terms = ('intensity', 'max', 'texture')  # the paper variant's (tf: fixed weights)

    @classmethod
    def first_stage(cls, settings: Mapping[str, Any]) -> tuple[str, str] | None:
        # the paper's recipe: train the illumination classifier first, then freeze it
        if settings.get('illumination', 'classifier') == 'classifier' \
                and not settings.get('classifier'):
            return 'piafusion-classifier', 'classifier'
        return None

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
        self.swap = float(self.settings.get('swap_sources', 0.0))
        if not 0.0 <= self.swap <= 1.0:
            raise ConfigError(f'settings.swap_sources must be in [0, 1], got {self.swap}')

    def compute(self, ir: torch.Tensor, rgb: torch.Tensor, day: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        y = self.luminance(rgb)
        p_day = (self.network(_classifier_day, self.classifier, rgb)
                 if self.classifier is not None else self.day_weights(rgb, day))
        weight_y = p_day  # the loss's weight of the visible input; p_day stays the scene's
        if self.training and self.swap:
            ir, y, weight_y = swapped_sources(ir, y, p_day, self.swap)
        fused = self.network(self.model, ir, y).fused
        out = L.piafusion_loss(fused, ir, y, weight_y, self.settings.get('variant', 'paper'))
        return self._reweight(out, fused, ir, y, p_day), fused

    def _reweight(self, out: dict[str, torch.Tensor], fused: torch.Tensor, ir: torch.Tensor,
                  y: torch.Tensor, p_day: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.settings.get('variant', 'paper') == 'paper':
            out['total'] = weighted_sum(self.w, out, ('intensity', 'max', 'texture'))
        # the edge and VIF terms are not the authors'
        out['total'] = out['total'] + self.source_terms(out, fused, ir, y, p_day)
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


def swapped_sources(ir: torch.Tensor, y: torch.Tensor, p_day: torch.Tensor, share: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ir, y, p_day)`` with a ``share`` of the samples' sources exchanged (the thermal
    patch fed as the visible one and back) and their day weight turned to ``1 - p_day``.

    Every term of the loss treats the two sources alike once their weights go with them
    (the target ``0.7 max(ir, y) + 0.3 (p y + (1 - p) ir)`` is the same), so only which
    encoder branch sees which image changes. Why: a fold trained almost only on night
    streets shows its visible branch dark, noisy images and never a well-lit, textured
    one; fed the thermal patches too, it learns to keep strong edges whichever branch they
    come in by. Drawn from torch's global generator (seeded by the run, saved and restored
    by ``--resume``); no draw when ``share`` is 0."""
    flip = (torch.rand(ir.shape[0]) < share).to(ir.device)
    mask = flip.view(-1, 1, 1, 1)
    return (torch.where(mask, y, ir), torch.where(mask, ir, y),
            torch.where(flip, 1.0 - p_day.reshape(-1), p_day.reshape(-1)).view_as(p_day))

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
from torch import nn

from fusion_ros.errors import ConfigError
from fusion_ros.models import build_model
from fusion_ros.ops.color import COLOUR_TRANSFORMS
from fusion_ros.ops.illumination import luminance_day_probability
from fusion_ros.training import losses as L

__all__ = ['OBJECTIVES', 'Objective', 'as_fp32', 'objective_class', 'register_objective',
           'weighted_sum']


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


# weights that every objective's source_terms and teacher_term read
SHARED_LOSS_TERMS = ('edge', 'edge_night', 'vif', 'teacher')


def check_loss_terms(objective: type[Objective], weights: Mapping[str, float]) -> None:
    """Raise ConfigError naming the keys of ``weights`` that ``objective`` never reads."""
    known = {*objective.loss_terms, *SHARED_LOSS_TERMS}
    unknown = sorted(set(weights) - known)
    if unknown:
        name = objective.model_name or objective.__name__
        raise ConfigError(f'unknown loss term(s) {unknown} for {name}; known: {sorted(known)}')


class Objective(nn.Module):
    """Base: ``model`` (registry name ``model_name``) plus the loss weights ``w``.

    Subclasses implement :meth:`compute`, which returns the losses and, when the loss
    already ran the fusion forward, the fused image (validation scores it without a
    second forward). ``settings.batchnorm: frozen`` trains every BatchNorm of the model on
    its fixed running statistics (a learnable affine), ``batch`` (default) on each batch's.
    """

    model_name = ''
    # the loss weights (a config's `loss:` keys) this objective reads besides
    # SHARED_LOSS_TERMS; any other key is a typo that would train without the term it meant
    loss_terms: tuple[str, ...] = ()

    def __init__(self, options: Mapping[str, Any], weights: Mapping[str, float],
                 settings: Mapping[str, Any]) -> None:
        super().__init__()
        check_loss_terms(type(self), weights)
        self.model = self.build(options).train()
        self.w = dict(weights)
        self.settings = dict(settings)
        self.epoch = 0  # 0-based; set by the trainer before each epoch
        self.progress = 0.0  # share of the run's steps done; set by the trainer each step
        self.frozen: list[nn.Module] = []  # kept in eval mode whatever train() says
        if self.settings.get('batchnorm', 'batch') not in ('batch', 'frozen'):
            raise ConfigError(f"settings.batchnorm must be 'batch' or 'frozen', got "
                              f"{self.settings['batchnorm']!r}")
        self.day_classifier = self.freeze(_load_classifier(self.settings.get('day_classifier')))
        self.teacher = self.freeze(_load_teacher(self.settings, self.w))
        # the trainer's autocast for the networks (set by it; none: fp32 throughout)
        self.network_autocast: Callable[[], contextlib.AbstractContextManager[Any]] = (
            contextlib.nullcontext)

    @classmethod
    def first_stage(cls, settings: Mapping[str, Any]) -> tuple[str, str] | None:
        """A stage to train before this one, as ``(its config/train name, the setting that
        takes that run's best.pt)``; None (the default): none."""
        return None

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

    def source_terms(self, terms: dict[str, torch.Tensor], fused: torch.Tensor,
                     ir: torch.Tensor, y: torch.Tensor, day: torch.Tensor | None = None
                     ) -> torch.Tensor | float:
        """The weighted terms that score ``fused`` against the raw inputs, each recorded in
        ``terms`` under its name; 0 (and no term) for those without a weight:
        ``edge`` = 1 - a soft Qabf (every source edge at its own strength and orientation,
        the weaker one's too), ``vif`` = 1 - half a differentiable VIF (each source's local
        structure at four scales, kept at its contrast or more).

        ``edge_night`` (with ``day``, P(day) per sample) gives the edge term its own weight
        at night: ``edge`` P + ``edge_night`` (1 - P) per sample (a night frame's visible
        edges are mostly sensor noise; measured in models/fastfusion.md, "Session 34").
        ``terms['edge']`` stays the unweighted batch mean, comparable across recipes."""
        total: torch.Tensor | float = 0.0
        if self.w.get('edge', 0.0):
            per_sample = L.edge_loss_per_sample(fused, ir, y)
            terms['edge'] = per_sample.mean()
            weight: torch.Tensor | float = self.w['edge']
            if 'edge_night' in self.w:
                if day is None:
                    raise ConfigError(f'loss.edge_night weighs crops by P(day), which the '
                                      f'{self.model_name} objective does not give; use edge')
                p_day = day.detach().to(per_sample).reshape(-1)
                weight = self.w['edge'] * p_day + self.w['edge_night'] * (1.0 - p_day)
            total = total + (weight * per_sample).mean()
        if self.w.get('vif', 0.0):
            terms['vif'] = L.vif_loss(fused, ir, y)
            total = total + self.w['vif'] * terms['vif']
        return total

    def teacher_term(self, terms: dict[str, torch.Tensor], fused: torch.Tensor,
                     ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor | float:
        """The annealed pull towards a stronger model's fused image (``settings.teacher``,
        weight ``w['teacher']``): L1 to the teacher's output on the same patch, its weight
        falling linearly over the run from 1 to ``settings.teacher_floor`` (default 0.25)
        times ``w['teacher']``. Not any paper's method: the documented fallback for a recipe
        that plateaus below a classical baseline (issue 35). Recorded in ``terms['teacher']``
        (the unweighted L1) and ``terms['teacher_scale']``; 0 without a teacher."""
        if self.teacher is None:
            return 0.0
        with torch.no_grad():
            target = self.teacher(ir, y).fused.clamp(0.0, 1.0)  # the loss's fp32 inputs
        terms['teacher'] = (fused - target).abs().mean()
        floor = float(self.settings.get('teacher_floor', 0.25))
        scale = 1.0 - (1.0 - floor) * min(max(self.progress, 0.0), 1.0)
        terms['teacher_scale'] = torch.tensor(scale, device=fused.device)
        return self.w['teacher'] * scale * terms['teacher']

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


def _load_teacher(settings: Mapping[str, Any], weights: Mapping[str, float]
                  ) -> nn.Module | None:
    """The frozen model ``settings.teacher`` names (its shipped weights, or
    ``settings.teacher_weights``) when the loss gives it a weight; else None."""
    name = settings.get('teacher')
    if not name or not weights.get('teacher'):
        if name or weights.get('teacher'):
            raise ConfigError('a teacher needs both settings.teacher (a model name) and '
                              'loss.teacher (its weight)')
        return None
    teacher = build_model(str(name), weights=settings.get('teacher_weights'))
    if hasattr(teacher, 'return_enhanced'):
        teacher.return_enhanced = False  # the fused image is all the pull needs
    return teacher


def _classifier_day(classifier: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    """P(day) per sample from PIAFusion's illumination classifier (no gradient)."""
    from fusion_ros.models.piafusion import illumination_probabilities

    with torch.no_grad():
        return illumination_probabilities(classifier(rgb))[:, 0]


# model name -> its objective class: filled by @register_objective in each objective's module
OBJECTIVES: dict[str, type[Objective]] = {}


def register_objective(name: str) -> Callable[[type[Objective]], type[Objective]]:
    """Class decorator: the objective that trains model ``name``."""
    def add(cls: type[Objective]) -> type[Objective]:
        if name in OBJECTIVES:
            raise ValueError(f'objective {name!r} registered twice')
        OBJECTIVES[name] = cls
        return cls
    return add


def objective_class(name: str) -> type[Objective]:
    """The objective class of trainable model ``name``."""
    if name not in OBJECTIVES:
        raise ConfigError(f'no trainer for {name!r}; trainable: {sorted(OBJECTIVES)}')
    return OBJECTIVES[name]

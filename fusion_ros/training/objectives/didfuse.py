# SPDX-License-Identifier: Apache-2.0
"""DIDFuse: the paper's auto-encoder losses (REFERENCE_NOTES)."""

from __future__ import annotations

import torch

from fusion_ros.training import losses as L
from fusion_ros.training.objectives.base import (
    Objective,
    register_objective,
)


@register_objective('didfuse')
class DIDFuseObjective(Objective):
    """DIDFuse: each source through the auto-encoder (grey), decomposition + reconstruction."""

    model_name = 'didfuse'
    loss_terms = ('reconstruction', 'ssim', 'mse', 'base', 'detail', 'gradient')

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

# SPDX-License-Identifier: Apache-2.0
"""Shape checks for public entry points (kornia's ``KORNIA_CHECK_SHAPE`` idea)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fusion_ros.errors import ShapeError

__all__ = ['check_fusion_inputs', 'check_same_size', 'check_shape']


def check_shape(x: torch.Tensor, dims: Sequence[str]) -> None:
    """Raise :class:`ShapeError` unless ``x`` matches ``dims``.

    Letters are free sizes; digits must match exactly, e.g. ``['B', '1', 'H', 'W']``.
    """
    if x.dim() != len(dims) or any(
        d.isdigit() and x.shape[i] != int(d) for i, d in enumerate(dims)
    ):
        raise ShapeError(f'expected a tensor of shape {list(dims)}, got {tuple(x.shape)}')


def check_same_size(a: torch.Tensor, b: torch.Tensor) -> None:
    """Raise :class:`ShapeError` unless two image tensors have the same batch, height and width."""
    if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
        raise ShapeError(
            f'thermal and visible differ in size: {tuple(a.shape)} vs {tuple(b.shape)}'
        )


def check_fusion_inputs(thermal: torch.Tensor, visible_y: torch.Tensor) -> None:
    """What every fusion model's ``forward`` requires: two :math:`(B, 1, H, W)` of one size."""
    check_shape(thermal, ['B', '1', 'H', 'W'])
    check_shape(visible_y, ['B', '1', 'H', 'W'])
    check_same_size(thermal, visible_y)

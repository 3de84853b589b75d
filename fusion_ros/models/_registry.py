# SPDX-License-Identifier: Apache-2.0
"""The model registry: every model is built by name (timm's pattern)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from torch import nn

from fusion_ros.errors import ModelNotFoundError

__all__ = ['get_model_entrypoint', 'heavy_model', 'list_models', 'model_option_ranges',
           'model_options',
           'register_model']

_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register an entrypoint under its function name. Registering a name twice raises."""
    name = fn.__name__
    if name in _ENTRYPOINTS:
        raise ValueError(f'model {name!r} is already registered')
    _ENTRYPOINTS[name] = fn
    return fn


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_ENTRYPOINTS)


def get_model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The entrypoint of ``name``; :class:`ModelNotFoundError` lists the known names."""
    try:
        return _ENTRYPOINTS[name]
    except KeyError:
        raise ModelNotFoundError(
            f'unknown model {name!r}; available: {", ".join(list_models())}'
        ) from None


def _model_class(name: str) -> type | None:
    """The class ``name``'s entrypoint returns (from its return annotation)."""
    return typing.get_type_hints(get_model_entrypoint(name)).get('return')


def heavy_model(name: str) -> bool:
    """A network that takes seconds a frame on a CPU (``FusionModel.auto_runtime``: what
    ``backend auto`` runs in OpenVINO there)."""
    return bool(getattr(_model_class(name), 'auto_runtime', False))


def model_options(name: str) -> dict[str, Any]:
    """The options a model takes (``--option KEY=VALUE``) with their defaults, read from the
    constructor of the class its entrypoint returns."""
    cls = _model_class(name)
    if cls is None:
        return {}
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name: p.default for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def model_option_ranges(name: str) -> dict[str, tuple[float | None, float | None]]:
    """The closed range ``(low, high)`` of each numeric option of ``name`` that has one
    (None: unbounded on that side), as the model class declares it."""
    return dict(getattr(_model_class(name), 'option_ranges', {}))

# SPDX-License-Identifier: Apache-2.0
"""``build_model``: the one way nodes, training and evaluation construct a model."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fusion_ros.errors import ConfigError, OptionError, WeightsError
from fusion_ros.models._registry import (
    get_model_entrypoint,
    model_option_ranges,
    model_options,
)

__all__ = ['build_model', 'check_options', 'load_state_dict', 'load_strict', 'range_text',
           'read_checkpoint']


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a checkpoint with ``weights_only=True`` and return its state dict.

    Accepts a plain state dict or one nested under ``state_dict``, ``model`` or ``weight``.

    Raises:
        WeightsError: missing file, corrupt file, or a file that needs code to unpickle.
    """
    return read_checkpoint(path)[0]


def read_checkpoint(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict of a checkpoint (as :func:`load_state_dict`) and the plain values
    stored beside it (our training exports: ``model_options``, ``step``, ``val``...)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'weights file {str(path)!r} does not exist')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        # torch's message runs to a page of advice; its first line says what happened
        first = str(err).strip().split('\n')[0][:200] or type(err).__name__
        raise WeightsError(
            f'cannot load {str(path)!r} as plain tensors (weights_only=True): not a '
            f'PyTorch checkpoint, a damaged one, or one that needs code to unpickle '
            f'({first})'
        ) from err
    meta: dict[str, Any] = {}
    for key in ('state_dict', 'model', 'weight'):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            meta = {k: v for k, v in obj.items() if k != key}
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f'{str(path)!r} does not hold a state dict of tensors')
    return dict(obj), meta


def _accepts(default: Any, value: Any) -> bool:
    """Whether ``value`` has the type of an option whose default is ``default`` (an int
    passes for a float; no default, or None, takes anything)."""
    if default is None or default is inspect.Parameter.empty:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(default))


def range_text(low: float | None, high: float | None) -> str:
    """An option's range as users read it: ``[1, 8]``, ``>= 0``, ``<= 1``."""
    if low is not None and high is not None:
        return f'[{low:g}, {high:g}]'
    return f'>= {low:g}' if low is not None else f'<= {high:g}'


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`OptionError` (one line naming the option) for an option ``name`` does
    not take, a value of the wrong type or one outside the option's declared range."""
    known = model_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = ', '.join(f'{k}={v!r}' for k, v in known.items()) or 'none'
        raise OptionError(f'model {name!r} has no option {", ".join(map(repr, unknown))}; '
                          f'its options (defaults): {listed}')
    ranges = model_option_ranges(name)
    for key, value in options.items():  # the type of each option is its default's
        if not _accepts(known[key], value):
            raise OptionError(f'model {name!r} option {key} takes a '
                              f'{type(known[key]).__name__} (default {known[key]!r}), '
                              f'got {value!r}')
        low, high = ranges.get(key, (None, None))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (low is not None and value < low) or (high is not None and value > high)):
            within = 'in ' if low is not None and high is not None else ''
            raise OptionError(f'model {name!r} option {key} must be {within}'
                              f'{range_text(low, high)} (default {known[key]!r}), got {value!r}')


def build_model(
    name: str,
    weights: Path | str | None = None,
    device: torch.device | str = 'cpu',
    weights_format: str | None = None,
    pretrained: bool = True,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model, load its weights strictly, move it to ``device``, eval mode.

    Args:
        name: registry name.
        weights: checkpoint file, or a release folder (DIDFuse's two ``.pkl``).
        device: where to put the model.
        weights_format: ``native`` or one of the model's release formats
            (``weight_formats``); None detects it from the file.
        pretrained: with no ``weights``, load the model's shipped weights
            (``default_weights``) when it has them; False leaves it randomly initialised.
        **kwargs: model options. A training export of ours (``--weights RUN/best.pt``)
            carries the options it was trained with: they apply beneath these, so a model
            trained with ``--option mid_band=4`` loads without repeating it.

    Raises:
        ModelNotFoundError: unknown ``name`` (the message lists the known ones).
        OptionError: an unknown option, or a value of the wrong type or out of range.
        ConfigError: options the model refuses together, or a format it does not read.
        WeightsError: weights that do not load (the message names missing/unexpected keys).
    """
    entrypoint = get_model_entrypoint(name)
    asked = dict(kwargs)
    if weights is not None:
        kwargs = {**_trained_options(weights, name), **kwargs}
    model = _construct(name, entrypoint, kwargs)
    shipped: Path | None = None
    if weights is None and pretrained and getattr(model, 'default_weights', None):
        from fusion_ros.resources import share_file

        shipped = share_file(model.default_weights)
        # the shipped file's own options (FastFusion's radius_reference), as a training
        # export's: beneath the ones asked for
        stored = _trained_options(shipped, name)
        if any(key not in kwargs for key in stored):
            model = _construct(name, entrypoint, {**stored, **kwargs})
    formats = ('native', *getattr(model, 'weight_formats', ()))
    if weights_format is not None and weights_format not in formats:
        raise ConfigError(f'model {name!r} reads weight formats {list(formats)}, '
                          f'not {weights_format!r}')
    if shipped is not None:
        try:
            _load(model, shipped, weights_format)
        except WeightsError:
            if not asked:
                raise
            # the shipped file is for the default architecture: options that change it
            # (e.g. piafusion flavour=port) leave the model untrained, and the engine says
            # it needs weights
        return model.to(device).eval()
    if weights is not None:
        _load(model, weights, weights_format)
    return model.to(device).eval()


def _construct(name: str, entrypoint: Any, kwargs: dict[str, Any]) -> nn.Module:
    check_options(name, kwargs)
    try:
        return entrypoint(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'bad options for model {name!r}: {err}') from err


def _trained_options(weights: Path | str, name: str) -> dict[str, Any]:
    """The ``model_options`` a training export of ``name`` stores beside its weights; {}
    for any other file (a release, a plain state dict, another model's export)."""
    path = Path(weights)
    if not path.is_file():
        return {}
    try:
        meta = read_checkpoint(path)[1]
    except WeightsError:
        return {}  # loading the weights says what is wrong with the file
    options = meta.get('model_options')
    if not isinstance(options, dict) or meta.get('model_name', name) != name:
        return {}
    return dict(options)


def _load(model: nn.Module, weights: Path | str, weights_format: str | None) -> None:
    loader = getattr(model, 'load_weights', None)
    if loader is not None:  # models with release formats of their own (e.g. DIDFuse)
        loader(weights, weights_format)
    else:
        load_strict(model, load_state_dict(weights), str(weights))
    model.weights_source = str(weights)


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` strictly; :class:`WeightsError` names missing/unexpected keys and shapes."""
    missing, unexpected = _key_diff(model, state)
    if missing or unexpected:
        raise WeightsError(
            f'{source!r} does not match {type(model).__name__}: '
            f'missing keys {missing[:10]}, unexpected keys {unexpected[:10]}'
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # shape mismatches
        raise WeightsError(f'{source!r} does not fit {type(model).__name__}: {err}') from err


def _key_diff(model: nn.Module, state: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)

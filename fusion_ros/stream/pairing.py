# SPDX-License-Identifier: Apache-2.0
"""A thermal + RGB stream as the fusion node and ``bag fuse`` both see it: frames paired by
header stamp (message_filters' semantics, reset when stamps jump back) and the day/night
state switched with hysteresis on the RGB stamps. One object, built from one settings
record, so a live stream and its recording pair and switch identically by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from fusion_ros.defaults import (
    DAY_THRESHOLD,
    MIN_DWELL_S,
    NIGHT_THRESHOLD,
    SYNC_POLICY,
    SYNC_QUEUE_SIZE,
    SYNC_SLOP_S,
)
from fusion_ros.errors import ConfigError
from fusion_ros.io.stamps import NS_PER_S
from fusion_ros.io.sync import StreamPairer
from fusion_ros.stream.hysteresis import NightHysteresis

__all__ = ['STREAM_PARAMS', 'FusionStream', 'StreamSettings']

THERMAL, RGB = 0, 1  # input indices


@dataclass(frozen=True)
class StreamSettings:
    """How a stream is paired and when it switches day/night (defaults: ``defaults.py``)."""

    slop_s: float = SYNC_SLOP_S
    queue_size: int = SYNC_QUEUE_SIZE
    policy: str = SYNC_POLICY
    night_threshold: float = NIGHT_THRESHOLD
    day_threshold: float = DAY_THRESHOLD
    min_dwell_s: float = MIN_DWELL_S

    def check(self) -> StreamSettings:
        """Raise ConfigError naming the setting out of range; else return self (the
        hysteresis and the synchronizer check their own settings)."""
        NightHysteresis(self.night_threshold, self.day_threshold, self.min_dwell_s)
        StreamPairer(2, self.queue_size, self.slop_s, policy=self.policy)
        return self

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> StreamSettings:
        """From the fusion node's parameter names (``sync.slop``, ``illumination.*``, ...);
        names not given keep their defaults, unknown names are ignored."""
        given = {field: values[name] for name, field in STREAM_PARAMS.items() if name in values}
        types = {f.name: type(getattr(cls(), f.name)) for f in fields(cls)}
        try:
            return replace(cls(), **{k: types[k](v) for k, v in given.items()})
        except (TypeError, ValueError) as err:
            raise ConfigError(f'stream settings: {err}') from err


    @classmethod
    def from_params_file(cls, path: Path | str, node: str = 'fusion_node') -> StreamSettings:
        """From a ROS 2 parameters file (``--ros-args --params-file``): the ``/**`` section,
        then the one for ``node`` (its own values win), nested or dotted keys alike.

        Raises:
            ConfigError: the file cannot be read or is not a parameters file.
        """
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f'cannot read parameters file {path}: {err}') from err
        if not isinstance(doc, dict):
            raise ConfigError(f'{path}: not a ROS 2 parameters file (no node sections)')
        values: dict[str, Any] = {}
        for key, section in doc.items():
            if str(key) in ('/**', node, f'/{node}') or str(key).endswith(f'/{node}'):
                params = section.get('ros__parameters') if isinstance(section, dict) else None
                if isinstance(params, dict):
                    values.update(_flatten(params))
        return cls.from_params(values).check()


def _flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping):
            out.update(_flatten(value, f'{name}.'))
        else:
            out[name] = value
    return out


# the fusion node's parameter -> StreamSettings field
STREAM_PARAMS = {
    'sync.slop': 'slop_s',
    'sync.queue_size': 'queue_size',
    'sync.policy': 'policy',
    'illumination.night_threshold': 'night_threshold',
    'illumination.day_threshold': 'day_threshold',
    'illumination.min_dwell_s': 'min_dwell_s',
}


class FusionStream:
    """Pair thermal (input 0) and RGB (input 1) items by stamp; track day/night.

    Args:
        settings: pairing and hysteresis.
        on_pair: called with ``(thermal, rgb)`` for each pair as it completes (the node's
            way); :meth:`add` also returns it (the bag tools' way).
        on_jump: called with the stamp (ns) that jumped back, after the pairer reset.

    Raises:
        ConfigError: a setting out of its range (thresholds, policy).
    """

    def __init__(self, settings: StreamSettings | None = None,
                 on_pair: Callable[[Any, Any], None] | None = None,
                 on_jump: Callable[[int], None] | None = None) -> None:
        self.settings = s = (settings or StreamSettings()).check()
        self._on_pair = on_pair
        self._completed: list[tuple[Any, Any]] = []
        self._pairer = StreamPairer(2, s.queue_size, s.slop_s, callback=self._complete,
                                    on_jump=on_jump, policy=s.policy)
        self._night = self._hysteresis(s)

    @staticmethod
    def _hysteresis(s: StreamSettings) -> NightHysteresis:
        return NightHysteresis(s.night_threshold, s.day_threshold, s.min_dwell_s)

    @property
    def time_jumps(self) -> int:
        """Pairer resets so far (stamps that jumped back: a looping bag, a restarted driver)."""
        return self._pairer.time_jumps

    def _complete(self, thermal: Any, rgb: Any) -> None:
        self._completed.append((thermal, rgb))
        if self._on_pair is not None:
            self._on_pair(thermal, rgb)

    def add(self, index: int, stamp_ns: int, item: Any) -> list[tuple[Any, Any]]:
        """Add a thermal (``index`` 0) or RGB (1) item; every pair it completes, in order
        (``nearest`` can release several at once: an RGB frame settles the thermal frames
        that waited for a later partner)."""
        self._completed = []
        self._pairer.add(index, stamp_ns, item)
        return self._completed

    def is_night(self, day_probability: float, stamp_ns: int) -> bool:
        """Feed a fused pair's P(day) at its RGB stamp; the day/night state after it."""
        return self._night.update(day_probability, stamp_ns / NS_PER_S)

    @property
    def night(self) -> bool | None:
        """The day/night state now (None before the first fused pair)."""
        return self._night.is_night

    def set_illumination(self, night_threshold: float, day_threshold: float,
                         min_dwell_s: float) -> None:
        """New hysteresis settings, from the next pair on; the current state is kept.
        Raises ConfigError before changing anything when they are out of range."""
        settings = replace(self.settings, night_threshold=night_threshold,
                           day_threshold=day_threshold, min_dwell_s=min_dwell_s)
        night = self._hysteresis(settings)
        night.is_night = self._night.is_night
        self._night, self.settings = night, settings

    def reset(self) -> None:
        """Forget queued frames and the newest stamp (a new activation); the day/night
        state is kept."""
        self._pairer.reset()

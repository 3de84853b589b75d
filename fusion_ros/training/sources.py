# SPDX-License-Identifier: Apache-2.0
"""``--data SPEC`` -> the aligned training pairs it names.

A spec is ``[LAYOUT:]PATH[,KEY=VALUE...]``:

- ``llvip:/data/LLVIP``, ``msrs:/data/MSRS``, ``kaist:/data/kaist`` (a root, a set or a
  video), ``pairs:DIR`` / ``tno:DIR`` / ``roadscene:DIR`` (``ir/`` + ``vi/``), and
  ``bag:REC`` (a rosbag2 recording; pairs made by the fusion node's synchronizer).
- Without a layout it is guessed from what is in ``PATH``.
- Keys: ``split`` (train | test | all; default train where the layout has splits),
  ``sequence`` (KAIST video or file-name glob/prefix), ``every`` (take every N-th pair:
  20 Hz video is very redundant), ``limit`` (at most N pairs), and for bags ``thermal`` and
  ``rgb`` (topics) and ``slop`` (seconds).

A file without its counterpart is an error that names it: training never drops data
silently. Pixels are only read when the trainer asks for them (bags excepted: their
messages are decoded once here).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion_ros.defaults import SYNC_SLOP_S
from fusion_ros.errors import BagError, ConfigError, EncodingError, ShapeError
from fusion_ros.io.datasets import LAYOUTS, list_dataset
from fusion_ros.io.image_files import read_image, read_thermal
from fusion_ros.ops.convert import thermal_plane, thermal_to_unit, visible_planes, visible_to_unit

__all__ = ['DataSpec', 'TrainPair', 'load_sources', 'parse_data_spec']

FOLDER_LAYOUTS = {'tno': 'pairs', 'roadscene': 'pairs', **{k: k for k in LAYOUTS}}
SPEC_KEYS = ('split', 'sequence', 'every', 'limit', 'thermal', 'rgb', 'slop')
_SPLIT_LAYOUTS = ('llvip', 'msrs', 'kaist')


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value."""

    layout: str
    path: Path
    split: str | None = None
    sequence: str | None = None
    every: int = 1
    limit: int | None = None
    thermal_topic: str | None = None
    rgb_topic: str | None = None
    slop_s: float = SYNC_SLOP_S

    def __str__(self) -> str:
        return f'{self.layout}:{self.path}'


@dataclass
class TrainPair:
    """One training pair: image files read on demand, or arrays already in memory.

    ``load()`` returns thermal :math:`(H, W)` and visible RGB :math:`(H, W, 3)` float32 in
    [0, 1] (16-bit thermal gets the node's gain control, grey visible is repeated to RGB).
    """

    name: str
    is_night: bool | None = None
    thermal_path: Path | None = None
    rgb_path: Path | None = None
    thermal: np.ndarray | None = None
    rgb: np.ndarray | None = None

    def load(self, keep_uint8: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``keep_uint8``: a pair whose two images are 8-bit comes back as uint8 (the unit
        values are exactly x / 255): a quarter of the memory in the training cache."""
        try:
            t = self.thermal if self.thermal is not None else read_thermal(self.thermal_path)
            v = self.rgb if self.rgb is not None else read_image(self.rgb_path)
            t, v = thermal_plane(t), visible_planes(v)
            if keep_uint8 and t.dtype == np.uint8 and v.dtype == np.uint8:
                ir, vi = t, v
            else:
                ir, vi = thermal_to_unit(t), visible_to_unit(v)
        except (ShapeError, EncodingError) as err:
            raise ConfigError(f'training pair {self.name}: {err}') from err
        if vi.ndim == 2:
            vi = np.repeat(vi[..., None], 3, axis=2)
        if ir.shape != vi.shape[:2]:
            raise ConfigError(f'training pair {self.name}: thermal {ir.shape[1]}x{ir.shape[0]} '
                              f'and visible {vi.shape[1]}x{vi.shape[0]} differ in size '
                              '(register them first)')
        return ir, vi


def _guess_layout(path: Path) -> str:
    if path.is_file() or (path / 'metadata.yaml').is_file():
        return 'bag'
    if not path.is_dir():
        raise ConfigError(f'--data {str(path)!r}: no such file or directory')
    if (path / 'ir').is_dir() and (path / 'vi').is_dir():
        return 'pairs'
    if (path / 'infrared').is_dir() and (path / 'visible').is_dir():
        return 'llvip'
    if (path / 'train' / 'vi').is_dir() or (path / 'test' / 'vi').is_dir():
        return 'msrs'
    if any(path.glob('**/lwir')):
        return 'kaist'
    raise ConfigError(f'--data {str(path)!r}: cannot tell the layout (no ir/+vi/, '
                      'infrared/+visible/, train/vi/, setXX/VYYY/lwir/ or rosbag2); '
                      f'prefix one of {sorted({*FOLDER_LAYOUTS, "bag"})}:')


def parse_data_spec(text: str) -> DataSpec:
    """Parse ``[LAYOUT:]PATH[,KEY=VALUE...]`` (module docstring).

    Raises:
        ConfigError: unknown layout or key, a bad value, or a path that does not exist.
    """
    head, *options = text.split(',')
    layout, sep, rest = head.partition(':')
    if sep and (layout in FOLDER_LAYOUTS or layout == 'bag'):
        path = Path(rest).expanduser()
    elif sep and layout.isalpha() and len(layout) > 1:
        raise ConfigError(f'--data {text!r}: unknown layout {layout!r}; use one of '
                          f'{sorted({*FOLDER_LAYOUTS, "bag"})}')
    else:
        layout, path = '', Path(head).expanduser()
    if not path.exists():
        raise ConfigError(f'--data {text!r}: {str(path)!r} does not exist')
    layout = layout or _guess_layout(path)
    values: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition('=')
        if not eq or key not in SPEC_KEYS:
            raise ConfigError(f'--data {text!r}: bad option {option!r}; keys: {SPEC_KEYS}')
        values[key] = value
    try:
        every = int(values.get('every', 1))
        limit = int(values['limit']) if 'limit' in values else None
        slop = float(values.get('slop', SYNC_SLOP_S))
    except ValueError as err:
        raise ConfigError(f'--data {text!r}: {err}') from err
    if every < 1 or (limit is not None and limit < 1) or slop <= 0:
        raise ConfigError(f'--data {text!r}: every and limit must be >= 1, slop > 0')
    split = values.get('split', 'train' if layout in _SPLIT_LAYOUTS else None)
    return DataSpec(layout, path, split, values.get('sequence'), every, limit,
                    values.get('thermal'), values.get('rgb'), slop)


def _folder_pairs(spec: DataSpec) -> list[TrainPair]:
    listing = list_dataset(FOLDER_LAYOUTS[spec.layout], spec.path, split=spec.split,
                           sequence=spec.sequence)
    if listing.unmatched:
        shown = '; '.join(f'{n} ({why})' for n, why in listing.unmatched[:5])
        raise ConfigError(f'{spec}: {len(listing.unmatched)} file(s) without a counterpart: '
                          f'{shown}{" ..." if len(listing.unmatched) > 5 else ""}')
    return [TrainPair(f'{spec.path.name}/{r.name}', r.is_night, r.thermal, r.rgb)
            for r in listing.pairs]


def _bag_pairs(spec: DataSpec) -> list[TrainPair]:
    from fusion_ros import topics
    from fusion_ros.bagtools.pairs import SyncedPairs

    names = (spec.thermal_topic or topics.THERMAL_TOPIC, spec.rgb_topic or topics.RGB_TOPIC)
    pairs: list[TrainPair] = []
    try:
        for i, (t_msg, v_msg) in enumerate(SyncedPairs(spec.path, names, slop_s=spec.slop_s)):
            if i % spec.every:
                continue
            try:
                t, v = t_msg.image(), v_msg.image()
            except EncodingError as err:
                raise ConfigError(f'{spec}: pair at {v_msg.time_ns} ns: {err}') from err
            pairs.append(TrainPair(f'{spec.path.name}/{v_msg.time_ns}', None, thermal=t, rgb=v))
            if spec.limit and len(pairs) >= spec.limit:
                break
    except BagError as err:
        if not pairs:
            raise ConfigError(f'{spec}: {err}') from err
        warnings.warn(f'{spec}: {err}; training on the {len(pairs)} pairs before the damage',
                      stacklevel=2)
    if not pairs:
        raise ConfigError(f'{spec}: no synchronised pairs on {names[0]} + {names[1]} '
                          '(set thermal=TOPIC and rgb=TOPIC in the spec)')
    return pairs


def load_sources(specs: Sequence[DataSpec | str],
                 exclude: Sequence[Path | str] = ()) -> list[TrainPair]:
    """All pairs of all ``specs``, in order.

    Args:
        exclude: folders that must not be trained on (the evaluation set, e.g. tno42).

    Raises:
        ConfigError: an excluded folder, an unpaired file, or no pairs at all.
    """
    banned = {Path(p).resolve() for p in exclude}
    pairs: list[TrainPair] = []
    for spec in specs:
        spec = parse_data_spec(spec) if isinstance(spec, str) else spec
        resolved = spec.path.resolve()
        if resolved in banned or any(b in resolved.parents for b in banned):
            raise ConfigError(f'{str(spec.path)!r} is the evaluation set; keep it out of '
                              'training')
        found = _bag_pairs(spec) if spec.layout == 'bag' else _folder_pairs(spec)
        if spec.layout != 'bag':
            found = found[::spec.every][:spec.limit]
        pairs += found
    if not pairs:
        raise ConfigError(f'no training pairs in {[str(s) for s in specs]}')
    return pairs

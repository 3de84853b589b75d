# SPDX-License-Identifier: Apache-2.0
"""The real thermal + visible dataset layouts, listed as aligned pairs (no pixel is read).

Shared by ``fusion-ros bag convert`` and the trainers, so both see the same pairs:

- KAIST: ``setXX/VYYY/{visible,lwir}/IZZZZZ.jpg``, 20 Hz video, day/night by set
  (sets 00-02 and 06-08 are day, 03-05 and 09-11 night), ``set00``-``set05`` train.
- LLVIP: ``{visible,infrared}/{train,test}/NNNNNN.jpg`` registered stills, mostly night.
- MSRS: ``{train,test}/{vi,ir}/NNNNN{D,N}.png``, day/night from the D/N suffix.
- pairs: any folder with ``ir/`` and ``vi/`` of equal file names (TNO, RoadScene, ours).

A file without its counterpart is listed in ``unmatched`` by name, never silently dropped.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fusion_ros.errors import ConfigError
from fusion_ros.io.image_files import pair_folders

__all__ = ['LAYOUTS', 'PairListing', 'PairRecord', 'kaist_is_night', 'list_dataset',
           'suffix_is_night']

KAIST_FPS = 20.0
KAIST_NIGHT_SETS = frozenset({3, 4, 5, 9, 10, 11})
_KAIST_FRAME = re.compile(r'^I(\d+)$')
_SET = re.compile(r'^set(\d+)$')


@dataclass(frozen=True)
class PairRecord:
    """One aligned thermal + visible pair on disk.

    Attributes:
        name: unique name within the listing, e.g. ``set00/V000/I00012`` or ``010001``.
        thermal: thermal (LWIR) image file.
        rgb: visible image file.
        sequence: the video the frame belongs to (``set00/V000``), or the split for stills.
        frame: frame number within ``sequence`` (KAIST file number; else running index).
        is_night: day/night label from the dataset's metadata; None when it has none.
    """

    name: str
    thermal: Path
    rgb: Path
    sequence: str
    frame: int
    is_night: bool | None = None


@dataclass
class PairListing:
    """Pairs found under a root, and the files that had no counterpart."""

    layout: str
    root: Path
    pairs: list[PairRecord] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    video: bool = False  # frames of real video (keep their timing), not stills


def kaist_is_night(set_name: str) -> bool | None:
    """Day/night of a KAIST set by its number (``set04`` -> True); None if not a set name."""
    m = _SET.match(set_name)
    return None if m is None else int(m.group(1)) in KAIST_NIGHT_SETS


def suffix_is_night(stem: str) -> bool | None:
    """MSRS convention: names ending ``N`` are night, ``D`` day; None otherwise."""
    return True if stem.endswith('N') else False if stem.endswith('D') else None


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ConfigError(f'{what}: {str(path)!r} is not a directory')
    return path


def _select(names: list[str], pattern: str | None) -> list[str]:
    """Names matching a glob (``01*``) or, without wildcards, a prefix (``01``)."""
    if not pattern:
        return names
    if any(c in pattern for c in '*?['):
        return [n for n in names if fnmatch.fnmatch(Path(n).stem, pattern)]
    return [n for n in names if n.startswith(pattern)]


def _kaist(root: Path, split: str | None, sequence: str | None) -> PairListing:
    """KAIST: ``root`` may be the dataset root, one ``setXX`` or one ``setXX/VYYY``."""
    _require_dir(root, 'KAIST root')
    videos = sorted({p.parent for p in root.glob('**/visible') if (p.parent / 'lwir').is_dir()})
    if not videos:
        raise ConfigError(f'no KAIST video (setXX/VYYY/visible + lwir) under {str(root)!r}')
    listing = PairListing('kaist', root, video=True)
    for video in videos:
        set_name = video.parent.name if _SET.match(video.parent.name) else video.name
        seq = f'{video.parent.name}/{video.name}'
        if split is not None:
            number = _SET.match(set_name)
            in_train = number is not None and int(number.group(1)) <= 5
            if (split == 'train') != in_train:
                continue
        if sequence and not fnmatch.fnmatch(seq, sequence) and not seq.startswith(sequence):
            continue
        found, unmatched = pair_folders(video / 'lwir', video / 'visible')
        listing.unmatched += [(f'{seq}/{n}', r) for n, r in unmatched]
        for name, (ir, vi) in found.items():
            m = _KAIST_FRAME.match(Path(name).stem)
            frame = int(m.group(1)) if m else len(listing.pairs)
            listing.pairs.append(PairRecord(f'{seq}/{Path(name).stem}', ir, vi, seq, frame,
                                            kaist_is_night(set_name)))
    return listing


def _splits(split: str | None) -> tuple[str, ...]:
    if split in (None, 'all'):
        return ('train', 'test')
    if split not in ('train', 'test'):
        raise ConfigError(f'split must be train, test or all, got {split!r}')
    return (split,)


def _llvip(root: Path, split: str | None, sequence: str | None) -> PairListing:
    _require_dir(root / 'visible', 'LLVIP visible folder')
    _require_dir(root / 'infrared', 'LLVIP infrared folder')
    listing = PairListing('llvip', root)
    for part in _splits(split):
        if not (root / 'visible' / part).is_dir():
            continue
        found, unmatched = pair_folders(root / 'infrared' / part, root / 'visible' / part)
        listing.unmatched += [(f'{part}/{n}', r) for n, r in unmatched if _select([n], sequence)]
        for name in _select(sorted(found), sequence):
            ir, vi = found[name]
            listing.pairs.append(PairRecord(f'{part}/{Path(name).stem}', ir, vi, part,
                                            len(listing.pairs)))
    if not listing.pairs and not listing.unmatched:
        raise ConfigError(f'no LLVIP pairs under {str(root)!r} (split {split}, sequence '
                          f'{sequence})')
    return listing


def _msrs(root: Path, split: str | None, sequence: str | None) -> PairListing:
    listing = PairListing('msrs', root)
    parts = [p for p in _splits(split) if (root / p).is_dir()]
    if not parts:  # a single split folder given directly
        parts = ['.']
    for part in parts:
        base = root / part
        found, unmatched = pair_folders(_require_dir(base / 'ir', 'MSRS ir folder'),
                                        _require_dir(base / 'vi', 'MSRS vi folder'))
        listing.unmatched += unmatched
        for name in _select(sorted(found), sequence):
            stem = Path(name).stem
            ir, vi = found[name]
            listing.pairs.append(PairRecord(stem if part == '.' else f'{part}/{stem}', ir, vi,
                                            part, len(listing.pairs), suffix_is_night(stem)))
    return listing


def _pairs(root: Path, split: str | None, sequence: str | None) -> PairListing:
    del split
    _require_dir(root, 'pair folder')
    if not (root / 'ir').is_dir() or not (root / 'vi').is_dir():
        raise ConfigError(f'{str(root)!r} needs ir/ and vi/ folders with equal file names '
                          f'(found: {sorted(p.name for p in root.iterdir() if p.is_dir())})')
    found, unmatched = pair_folders(root / 'ir', root / 'vi')
    listing = PairListing('pairs', root, unmatched=unmatched)
    for name in _select(sorted(found), sequence):
        stem = Path(name).stem
        ir, vi = found[name]
        listing.pairs.append(PairRecord(stem, ir, vi, root.name, len(listing.pairs),
                                        suffix_is_night(stem)))
    return listing


LAYOUTS: dict[str, Callable[[Path, str | None, str | None], PairListing]] = {
    'kaist': _kaist,
    'llvip': _llvip,
    'msrs': _msrs,
    'pairs': _pairs,
}


def list_dataset(layout: str, root: Path | str, *, split: str | None = None,
                 sequence: str | None = None) -> PairListing:
    """List the pairs of a dataset.

    Args:
        layout: ``kaist``, ``llvip``, ``msrs`` or ``pairs``.
        root: the dataset folder (for KAIST also one set or one video).
        split: ``train``, ``test`` or None/``all``.
        sequence: KAIST: a video like ``set03/V001`` (glob or prefix); stills: a file-name
            glob or prefix (``0100*``, ``0100``).

    Raises:
        ConfigError: unknown layout, missing folders, or nothing found.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f'unknown dataset layout {layout!r}; use one of {sorted(LAYOUTS)}')
    listing = LAYOUTS[layout](Path(root), split, sequence)
    if not listing.pairs and not listing.unmatched:
        raise ConfigError(f'no {layout} pairs under {str(root)!r}')
    return listing


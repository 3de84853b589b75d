# SPDX-License-Identifier: Apache-2.0
"""Image files <-> arrays (RGB channel order, any bit depth), and pairing folders by stem."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from fusion_ros.errors import ConfigError, ShapeError

__all__ = ['IMAGE_SUFFIXES', 'list_images', 'pair_folders', 'read_image', 'read_thermal',
           'stem_index', 'write_image']

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def list_images(folder: Path) -> dict[str, Path]:
    """File name -> path of the images directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f'{str(folder)!r} is not a directory')
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def stem_index(folder: Path) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """Stem -> path of the images in ``folder`` (``010001.jpg`` and ``010001.png`` are the
    same picture to a user), and ``(name, reason)`` for stems that name several files."""
    by_stem: dict[str, list[Path]] = {}
    for path in list_images(folder).values():
        by_stem.setdefault(path.stem, []).append(path)
    unique = {stem: paths[0] for stem, paths in by_stem.items() if len(paths) == 1}
    ambiguous = [(paths[0].stem + '.*', f'ambiguous in {folder}: '
                  f'{", ".join(p.name for p in paths)}')
                 for paths in by_stem.values() if len(paths) > 1]
    return unique, ambiguous


def pair_folders(ir_dir: Path, vi_dir: Path
                 ) -> tuple[dict[str, tuple[Path, Path]], list[tuple[str, str]]]:
    """Pair the images of two folders by file stem (``ir/x.jpg`` with ``vi/x.png``).

    Returns:
        ``{thermal file name: (ir_path, vi_path)}`` sorted by name, and ``(name, reason)``
        for every image without a counterpart and every ambiguous stem, so callers can
        report them instead of dropping them silently.
    """
    ir, ir_bad = stem_index(ir_dir)
    vi, vi_bad = stem_index(vi_dir)
    pairs = {ir[s].name: (ir[s], vi[s]) for s in sorted(set(ir) & set(vi))}
    pairs = dict(sorted(pairs.items()))
    unmatched = ir_bad + vi_bad
    unmatched += [(ir[s].name, f'no visible image in {vi_dir}') for s in sorted(set(ir) - set(vi))]
    unmatched += [(vi[s].name, f'no thermal image in {ir_dir}')
                  for s in sorted(set(vi) - set(ir))]
    return pairs, unmatched


def read_image(path: Path | str) -> np.ndarray:
    """Read grey :math:`(H, W)` or RGB :math:`(H, W, 3)`, keeping 16-bit depth; alpha dropped.

    Raises:
        ShapeError: the file is missing or not an image OpenCV can decode.
    """
    if not Path(path).is_file():  # before OpenCV, which prints a warning of its own
        raise ShapeError(f'cannot read image {str(path)!r}: no such file')
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ShapeError(f'cannot read image {str(path)!r}: not an image OpenCV can decode')
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def read_thermal(path: Path | str) -> np.ndarray:
    """Read a thermal image as one channel (datasets often store IR as 3 equal channels)."""
    img = read_image(path)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img


def write_image(path: Path | str, image: np.ndarray) -> None:
    """Write grey or RGB ``image`` atomically (a temporary file renamed into place, so an
    interrupted run leaves the complete image or none); the folder is created.

    Raises:
        ShapeError: no image format for the extension, or the file cannot be written (the
            reason named: permission, missing space).
    """
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ShapeError(f'cannot write {str(path)!r}: {path.suffix or "no extension"} is not '
                         f'an image format ({", ".join(IMAGE_SUFFIXES)})')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ShapeError(f'cannot create {str(path.parent)!r} ({err.strerror})') from err
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    tmp = path.with_name(f'.{path.stem}.partial{path.suffix}')
    try:
        ok = cv2.imwrite(str(tmp), out)
    except cv2.error as err:
        raise ShapeError(f'cannot encode {str(path)!r}: {err}') from err
    if not ok:
        why = 'permission denied' if not os.access(path.parent, os.W_OK) else 'write failed'
        tmp.unlink(missing_ok=True)
        raise ShapeError(f'cannot write image {str(path)!r} ({why})')
    os.replace(tmp, path)

# SPDX-License-Identifier: Apache-2.0
"""Image files <-> arrays (RGB channel order, any bit depth), and pairing folders by name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fusion_ros.errors import ConfigError, ShapeError

__all__ = ['IMAGE_SUFFIXES', 'list_images', 'pair_folders', 'read_image', 'read_thermal',
           'write_image']

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def list_images(folder: Path) -> dict[str, Path]:
    """File name -> path of the images directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f'{str(folder)!r} is not a directory')
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def pair_folders(ir_dir: Path, vi_dir: Path
                 ) -> tuple[dict[str, tuple[Path, Path]], list[tuple[str, str]]]:
    """Pair the images of two folders by file name.

    Returns:
        ``{name: (ir_path, vi_path)}`` sorted by name, and ``(name, reason)`` for every image
        without a counterpart, so callers can report them instead of dropping them silently.
    """
    ir, vi = list_images(ir_dir), list_images(vi_dir)
    pairs = {n: (ir[n], vi[n]) for n in sorted(set(ir) & set(vi))}
    unmatched = [(n, f'no visible image in {vi_dir}') for n in sorted(set(ir) - set(vi))]
    unmatched += [(n, f'no thermal image in {ir_dir}') for n in sorted(set(vi) - set(ir))]
    return pairs, unmatched


def read_image(path: Path | str) -> np.ndarray:
    """Read grey :math:`(H, W)` or RGB :math:`(H, W, 3)`, keeping 16-bit depth; alpha dropped.

    Raises:
        ShapeError: the file is missing or not an image OpenCV can decode.
    """
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ShapeError(f'cannot read image {str(path)!r}')
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
    """Write grey or RGB ``image``; the folder is created. Raises ShapeError on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), out):
        raise ShapeError(f'cannot write image {str(path)!r} (unknown extension?)')

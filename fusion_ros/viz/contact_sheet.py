# SPDX-License-Identifier: Apache-2.0
"""Contact sheet: thermal | RGB | fused at several moments, and the illumination curve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ['Moment', 'write_contact_sheet']


@dataclass
class Moment:
    """One row of the sheet: images as uint8 (grey (H, W) or RGB (H, W, 3)) at ``time_s``."""

    time_s: float
    thermal: np.ndarray
    rgb: np.ndarray
    fused: np.ndarray
    day_probability: float


def write_contact_sheet(
    path: Path,
    moments: Sequence[Moment],
    curve_t: Sequence[float],
    curve_p: Sequence[float],
    title: str = '',
) -> Path:
    """Write a PNG with one row per moment and the day-probability curve below."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = len(moments)
    fig = plt.figure(figsize=(12, 3.0 * rows + 2.6), dpi=80)
    grid = fig.add_gridspec(rows + 1, 3, height_ratios=[3.0] * rows + [2.2], hspace=0.25,
                            wspace=0.03)
    for r, m in enumerate(moments):
        for c, (name, img) in enumerate((('thermal', m.thermal), ('RGB', m.rgb),
                                         ('fused', m.fused))):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(img, cmap='gray' if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=13)
            if c == 0:
                ax.set_ylabel(f't = {m.time_s:.1f} s\nP(day) = {m.day_probability:.2f}',
                              fontsize=11)
    ax = fig.add_subplot(grid[rows, :])
    ax.plot(curve_t, curve_p, color='tab:orange', lw=2, label='P(day), fusion node')
    for m in moments:
        ax.axvline(m.time_s, color='grey', ls=':', lw=1)
    ax.axhline(0.5, color='k', lw=0.5)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel('time since first frame (s)')
    ax.set_ylabel('illumination')
    ax.legend(loc='upper right')
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=14)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches='tight')
    plt.close(fig)
    return path

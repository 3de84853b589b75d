# SPDX-License-Identifier: Apache-2.0
"""Locate the package's shipped files (``config/``, ``models/``, ``launch/``).

In a colcon install they live in ``share/fusion_ros``; in a source checkout or an editable
pip install, at the repository root. No ROS import is needed for the fallback.
"""

from __future__ import annotations

from pathlib import Path

from fusion_ros.errors import ConfigError

__all__ = ['share_file', 'shipped_file']


def _roots() -> list[Path]:
    roots = [Path(__file__).resolve().parents[1]]  # source checkout / editable install
    try:
        from ament_index_python.packages import get_package_share_directory

        roots.insert(0, Path(get_package_share_directory('fusion_ros')))
    except Exception:  # noqa: BLE001 - not installed through colcon: fall back
        pass
    return roots


def share_file(relative: str) -> Path:
    """Absolute path of a shipped file, e.g. ``share_file('config/fusion.yaml')``."""
    for root in _roots():
        path = root / relative
        if path.exists():
            return path
    raise ConfigError(f'shipped file {relative!r} not found under {[str(r) for r in _roots()]}')


def shipped_file(relative: str) -> Path | None:
    """Like :func:`share_file`, but None when the file is not shipped."""
    try:
        return share_file(relative)
    except ConfigError:
        return None

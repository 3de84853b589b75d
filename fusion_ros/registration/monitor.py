# SPDX-License-Identifier: Apache-2.0
"""Watch a rig's registration live: a bumped camera shows as thermal and RGB edges that
stop agreeing, long before anyone looks at the fused image."""

from __future__ import annotations

from collections import deque

import numpy as np

from fusion_ros.defaults import REGISTRATION_CHECK_EVERY, REGISTRATION_WARN_RATIO
from fusion_ros.errors import ConfigError
from fusion_ros.registration.features import edge_agreement

__all__ = ['RegistrationMonitor']


class RegistrationMonitor:
    """Edge-agreement scores of every ``every``-th frame against a start-up baseline.

    The baseline is the median of the first ``baseline`` scores after start or after
    :meth:`reset` (a new homography); the current value is the median of the last
    ``window`` scores (one busy or empty frame does not decide). :attr:`dropped` is true
    while the current value is below ``warn_ratio`` x baseline.

    Example:
        >>> m = RegistrationMonitor(every=1, baseline=2, window=2, warn_ratio=0.5)
        >>> for s in (0.4, 0.4, 0.35, 0.1, 0.1):
        ...     m.add(s)
        >>> round(m.start, 2), round(m.current, 2), m.dropped
        (0.4, 0.1, True)
    """

    def __init__(self, every: int = REGISTRATION_CHECK_EVERY, baseline: int = 5,
                 window: int = 5, warn_ratio: float = REGISTRATION_WARN_RATIO) -> None:
        if every < 0 or baseline < 1 or window < 1:
            raise ConfigError(f'registration check needs every >= 0, baseline >= 1 and '
                              f'window >= 1, got {every}, {baseline}, {window}')
        if not 0.0 < warn_ratio < 1.0:
            raise ConfigError(f'registration.warn_ratio must be in (0, 1), got {warn_ratio}')
        self.every, self.baseline, self.warn_ratio = every, baseline, warn_ratio
        self._recent: deque[float] = deque(maxlen=window)
        self._first: list[float] = []
        self._frames = 0
        self._warned = False

    def reset(self) -> None:
        """Forget the baseline (the homography changed: the old scores mean nothing)."""
        self._recent.clear()
        self._first.clear()
        self._frames = 0

    def due(self) -> bool:
        """Count a frame; true when this one should be scored (never with ``every`` 0)."""
        if self.every == 0:
            return False
        self._frames += 1
        return (self._frames - 1) % self.every == 0

    def check_frame(self, thermal: np.ndarray, visible: np.ndarray,
                    homography: np.ndarray | None) -> bool:
        """Count a frame and, when it is due, score how well the warped thermal edges meet
        the visible ones (:func:`edge_agreement`); True when this frame was scored."""
        if not self.due():
            return False
        self.add(edge_agreement(thermal, visible, homography))
        return True

    def newly_dropped(self) -> bool:
        """True once each time the score falls below the ratio: a warning to log once."""
        if not self.dropped:
            self._warned = False
            return False
        first, self._warned = not self._warned, True
        return first

    def add(self, score: float) -> None:
        if not np.isfinite(score):
            return
        if len(self._first) < self.baseline:
            self._first.append(float(score))
        self._recent.append(float(score))

    @property
    def start(self) -> float | None:
        """Baseline score; None until ``baseline`` frames were scored."""
        return float(np.median(self._first)) if len(self._first) >= self.baseline else None

    @property
    def current(self) -> float | None:
        return float(np.median(self._recent)) if self._recent else None

    @property
    def dropped(self) -> bool:
        start, now = self.start, self.current
        return start is not None and now is not None and start > 0 \
            and now < self.warn_ratio * start

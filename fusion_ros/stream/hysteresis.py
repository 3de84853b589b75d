# SPDX-License-Identifier: Apache-2.0
"""Day/night state with hysteresis, so the published state does not flicker at dusk."""

from __future__ import annotations

from fusion_ros.defaults import DAY_THRESHOLD, MIN_DWELL_S, NIGHT_THRESHOLD
from fusion_ros.errors import ConfigError

__all__ = ['NightHysteresis']


class NightHysteresis:
    """Turn a noisy day probability into a stable ``is_night`` flag.

    The state becomes night once P(day) has stayed below ``night_threshold`` for
    ``min_dwell_s``, and day once it has stayed above ``day_threshold`` for ``min_dwell_s``;
    values between the thresholds keep the current state. The first sample decides the
    initial state (P(day) < 0.5: night).

    Example:
        >>> h = NightHysteresis(0.4, 0.6, min_dwell_s=1.0)
        >>> [h.update(p, t) for p, t in [(0.9, 0.0), (0.3, 0.5), (0.3, 1.6), (0.5, 2.0)]]
        [False, False, True, True]
    """

    def __init__(self, night_threshold: float = NIGHT_THRESHOLD,
                 day_threshold: float = DAY_THRESHOLD, min_dwell_s: float = MIN_DWELL_S) -> None:
        if not 0.0 <= night_threshold <= day_threshold <= 1.0:
            raise ConfigError('need 0 <= night_threshold <= day_threshold <= 1, got '
                              f'{night_threshold} and {day_threshold}')
        if min_dwell_s < 0:
            raise ConfigError(f'min_dwell_s must be >= 0, got {min_dwell_s}')
        self.night_threshold = night_threshold
        self.day_threshold = day_threshold
        self.min_dwell_s = min_dwell_s
        self.is_night: bool | None = None
        self._since: float | None = None  # when the opposite condition started to hold

    def update(self, day_probability: float, t_s: float) -> bool:
        """Feed one sample at time ``t_s`` (seconds, e.g. the image stamp); returns the state."""
        if self.is_night is None:
            self.is_night = day_probability < 0.5
            return self.is_night
        wants_switch = (day_probability > self.day_threshold if self.is_night
                        else day_probability < self.night_threshold)
        if not wants_switch:
            self._since = None
        elif self._since is None:
            self._since = t_s
        if wants_switch and self._since is not None and t_s - self._since >= self.min_dwell_s:
            self.is_night = not self.is_night
            self._since = None
        return self.is_night

    def reset(self) -> None:
        """Forget the state (e.g. after a time jump)."""
        self.is_night = None
        self._since = None

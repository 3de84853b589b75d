# SPDX-License-Identifier: Apache-2.0
"""An exponential moving average of a model's weights (Polyak averaging).

With a constant learning rate the weights of the last step are one draw from the noisy
walk the optimiser takes around a minimum; their running average sits nearer its centre.
The trainer validates and exports the average (``ema`` in the training config) and keeps
training the live weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ['WeightAverage']


class WeightAverage:
    """``average = d average + (1 - d) weights`` after every step, ``d`` the decay, held
    lower over the first steps (``(1 + n) / (10 + n)`` after ``n`` updates) so the average
    does not keep the initial weights for the first thousand steps of a 0.999 decay.
    Integer buffers (counters) are copied, not averaged."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f'decay must be in (0, 1), got {decay}')
        self.model, self.decay = model, decay
        self.updates = 0
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._floats = [k for k, v in self.average.items() if v.is_floating_point()]
        self._others = [k for k in self.average if k not in self._floats]

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self) -> None:
        weight = 1.0 - self.current_decay()
        self.updates += 1
        live = self.model.state_dict()
        if self._floats:
            torch._foreach_lerp_([self.average[k] for k in self._floats],
                                 [live[k].detach() for k in self._floats], weight)
        for key in self._others:
            self.average[key].copy_(live[key])

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own after it."""
        own = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.average)
        try:
            yield
        finally:
            self.model.load_state_dict(own)

    def state_dict(self) -> dict[str, Any]:
        return {'average': self.average, 'updates': self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state['average'].items():
            self.average[key].copy_(value)
        self.updates = int(state['updates'])

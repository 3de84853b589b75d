# SPDX-License-Identifier: Apache-2.0
"""What the nodes' own /diagnostics counters say they published, for tools that replay a
bag and must know when every output has arrived (bringup's --exit-after-bag, the replay
pipeline behind ``demo`` and ``bench pipeline``).

A quiet spell alone does not end a replay: on a starved machine one slow detection takes
longer than any fixed quiet time, and the listener may not yet have taken what arrived.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fusion_ros.topics import DETECTIONS_IMAGE_TOPIC, FUSED_TOPIC

__all__ = ['StatusBoard']

# the counter of the status (by name suffix) that counts each output topic's messages
PUBLISHED_BY = {FUSED_TOPIC: (': fusion', 'fused'),
                DETECTIONS_IMAGE_TOPIC: (': detection', 'processed')}
# a fusion node's pairs not counted under one of these are still in flight
FUSION_SETTLED = ('fused', 'dropped', 'errors', 'skipped for max_rate', 'unfused (no model)')
# a detector's fused images not counted under one of these are still on their way
DETECTOR_SETTLED = ('processed', 'dropped', 'errors', 'lost in transport')


class StatusBoard:
    """The latest integer counters of each /diagnostics status, by status name, and when
    each arrived (``time.time_ns()``). Feed it DiagnosticArray messages."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, int]] = {}
        self.received_ns: dict[str, int] = {}

    def on_diagnostics(self, msg: object) -> None:
        now = time.time_ns()
        for status in getattr(msg, 'status', ()):
            self.latest[status.name] = {kv.key: int(kv.value) for kv in status.values
                                        if kv.value.isdigit()}
            self.received_ns[status.name] = now

    def find(self, suffix: str) -> dict[str, int] | None:
        """Counters of the status whose name ends with ``suffix`` (``': fusion'``)."""
        return next((v for k, v in self.latest.items() if k.endswith(suffix)), None)

    def received_at(self, suffix: str) -> int:
        """When the status named ``...suffix`` last arrived; 0 if never."""
        return next((v for k, v in self.received_ns.items() if k.endswith(suffix)), 0)

    def unaccounted(self, heard: Callable[[str], int], namespace: str = '') -> list[str]:
        """What the statuses say is still on its way, in words (empty: nothing): pairs in
        flight, fused frames the detector has not taken yet, and outputs the nodes counted
        as published beyond ``heard(topic)`` (received, or known lost on the way)."""
        waiting = []
        fusion = self.find(': fusion')
        if fusion is not None:
            left = fusion.get('pairs', 0) - sum(fusion.get(k, 0) for k in FUSION_SETTLED)
            if left > 0:
                waiting.append(f'{left} pairs in flight')
            detector = self.find(': detection')
            if detector is not None:
                taken = sum(detector.get(k, 0) for k in DETECTOR_SETTLED)
                if taken < fusion.get('fused', 0):
                    waiting.append(f'{fusion["fused"] - taken} fused frames for the detector')
        for topic, (suffix, key) in PUBLISHED_BY.items():
            counts = self.find(suffix)
            name = f'/{namespace.strip("/")}{topic}' if namespace.strip('/') else topic
            if counts is not None and heard(name) < counts.get(key, 0):
                waiting.append(f'{counts[key] - heard(name)} on {name}')
        return waiting

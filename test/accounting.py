# SPDX-License-Identifier: Apache-2.0
"""What a replay test holds the fusion node to, whatever the load: every pair and every frame
accounted for in its last /diagnostics status. How many pairs it fuses is a speed
(benchmarks/): one loaded CI run fused 82 of 160, where healthy quiet runs fuse all."""

from __future__ import annotations

from collections.abc import Mapping

# each input frame lost in transport can cost its pair; the first and last frames of a
# stream may find no partner
MIN_PAIRED_SHARE = 0.9


def counters(values: Mapping[str, str]) -> dict[str, int]:
    """The integer values of a diagnostics status."""
    return {k: int(v) for k, v in values.items() if v.isdigit()}


def in_flight(n: Mapping[str, int]) -> int:
    """Pairs a status counted that are not yet fused, dropped, failed or skipped."""
    return n['pairs'] - sum(n[k] for k in ('fused', 'dropped', 'errors',
                                           'skipped for max_rate', 'unfused (no model)'))


def drained(before: Mapping[str, str], after: Mapping[str, str], fused_seen: int,
            fused_missed: int = 0) -> bool:
    """Whether two successive fusion statuses show a stream that has drained: no new pair
    between them, none in flight, and the fused frames the node counted heard or counted lost
    (up to 2 at the tail, where no later frame reveals a gap)."""
    a, b = counters(before), counters(after)
    return (a['pairs'] == b['pairs'] and in_flight(b) == 0
            and fused_seen + fused_missed >= b['fused'] - 2)


def assert_every_pair_accounted(values: Mapping[str, str], pairs: int, fused_seen: int,
                                final: bool = True, fused_missed: int = 0) -> None:
    """``values``: a status of the fusion node, its last one after the stream drained
    (``final``) or any one; ``pairs``: the pairs the stream held; ``fused_seen``: the fused
    frames a subscriber received; ``fused_missed``: those it counted lost on the way (a
    listener starved on a loaded machine misses frames the node did publish)."""
    n = counters(values)
    # at a snapshot one pair may wait in the slot and one be in inference
    assert 0 <= in_flight(n) <= (0 if final else 2), n
    # how many are fused is a speed: one loaded run fused 6 of 40 (34 counted dropped)
    assert 1 <= fused_seen <= pairs, (fused_seen, n)
    if final:
        lost = n['thermal lost in transport'] + n['rgb lost in transport']
        assert n['pairs'] + lost >= MIN_PAIRED_SHARE * pairs, (n, pairs)
        assert abs(fused_seen + fused_missed - n['fused']) <= 2, (fused_seen, fused_missed, n)
    else:
        assert n['fused'] <= fused_seen + fused_missed + 2, (fused_seen, fused_missed, n)

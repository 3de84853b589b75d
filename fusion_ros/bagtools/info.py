# SPDX-License-Identifier: Apache-2.0
"""What a bag holds: topics, types, counts, rates, duration, and the pairs it would make."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fusion_ros.bagtools.pairs import SyncedPairs
from fusion_ros.defaults import SYNC_QUEUE_SIZE, SYNC_SLOP_S
from fusion_ros.errors import BagError
from fusion_ros.io.bag import IMAGE_TYPES, bag_topics, read_bag
from fusion_ros.topics import RGB_TOPIC, THERMAL_TOPIC, compressed

__all__ = ['BagInfo', 'TopicStats', 'bag_info', 'count_pairs', 'image_pair_topics']


@dataclass
class TopicStats:
    """Per topic: type, count, first/last log time."""

    topic: str
    msgtype: str
    count: int = 0
    first_ns: int | None = None
    last_ns: int | None = None

    @property
    def rate_hz(self) -> float:
        if self.count < 2 or self.first_ns is None or self.last_ns is None:
            return 0.0
        span = (self.last_ns - self.first_ns) / 1e9
        return (self.count - 1) / span if span > 0 else 0.0


@dataclass
class BagInfo:
    path: Path
    storage: str
    version: int
    topics: dict[str, TopicStats] = field(default_factory=dict)
    pair_topics: tuple[str, str] | None = None
    pairs: int | None = None

    @property
    def duration_s(self) -> float:
        firsts = [t.first_ns for t in self.topics.values() if t.first_ns is not None]
        lasts = [t.last_ns for t in self.topics.values() if t.last_ns is not None]
        return (max(lasts) - min(firsts)) / 1e9 if firsts else 0.0

    def as_dict(self) -> dict:
        return {
            'path': str(self.path), 'storage': self.storage, 'version': self.version,
            'duration_s': self.duration_s,
            'topics': {t.topic: {'type': t.msgtype, 'count': t.count, 'rate_hz': t.rate_hz}
                       for t in self.topics.values()},
            'pair_topics': list(self.pair_topics) if self.pair_topics else None,
            'pairs': self.pairs,
        }

    def format(self) -> str:
        lines = [f'bag:       {self.path}', f'storage:   {self.storage} (metadata version '
                 f'{self.version})', f'duration:  {self.duration_s:.3f} s', '']
        width = max([len(t) for t in self.topics] + [5])
        lines.append(f'{"topic":<{width}}  {"type":<40} {"count":>7} {"rate Hz":>8}')
        for t in self.topics.values():
            lines.append(f'{t.topic:<{width}}  {t.msgtype:<40} {t.count:>7d} {t.rate_hz:>8.2f}')
        lines.append('')
        if self.pair_topics is None:
            lines.append('pairs:     no thermal + RGB image topics found')
        else:
            lines.append(f'pairs:     {self.pairs} ({self.pair_topics[0]} + '
                         f'{self.pair_topics[1]}, node synchronizer defaults)')
        return '\n'.join(lines)


def _metadata(path: Path) -> tuple[str, int]:
    meta = Path(path) / 'metadata.yaml'
    try:
        info = yaml.safe_load(meta.read_text())['rosbag2_bagfile_information']
        return str(info.get('storage_identifier', '?')), int(info.get('version', 0))
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as err:
        raise BagError(f'cannot read {str(meta)!r}: {err}') from err


def image_pair_topics(topics: dict[str, str], thermal: str | None = None,
                      rgb: str | None = None) -> tuple[str, str] | None:
    """The thermal and RGB image topics of a bag: the given ones, else the defaults (raw
    or ``/compressed``). None when either is missing."""
    def pick(given: str | None, default: str) -> str | None:
        options = [given] if given else [default, compressed(default)]
        return next((t for t in options if topics.get(t) in IMAGE_TYPES), None)

    t, r = pick(thermal, THERMAL_TOPIC), pick(rgb, RGB_TOPIC)
    return (t, r) if t and r else None


def count_pairs(bag: Path, topics: tuple[str, str], slop_s: float = SYNC_SLOP_S,
                queue_size: int = SYNC_QUEUE_SIZE) -> int:
    """How many pairs the node's synchronizer makes from a bag in log-time order."""
    return sum(1 for _ in SyncedPairs(bag, topics, slop_s, queue_size))


def bag_info(path: Path, *, thermal: str | None = None, rgb: str | None = None,
             slop_s: float = SYNC_SLOP_S, queue_size: int = SYNC_QUEUE_SIZE) -> BagInfo:
    """Scan the bag once (headers only are parsed) and summarise it."""
    storage, version = _metadata(path)
    types = bag_topics(path)
    info = BagInfo(Path(path), storage, version,
                   {t: TopicStats(t, ty) for t, ty in sorted(types.items())})
    for m in read_bag(path):
        stats = info.topics[m.topic]
        stats.count += 1
        stats.first_ns = m.time_ns if stats.first_ns is None else stats.first_ns
        stats.last_ns = m.time_ns
    info.pair_topics = image_pair_topics(types, thermal, rgb)
    if info.pair_topics is not None:
        info.pairs = count_pairs(path, info.pair_topics, slop_s, queue_size)
    return info

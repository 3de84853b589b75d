# SPDX-License-Identifier: Apache-2.0
"""The (thermal, RGB) pairs a recording yields through the node's synchronizer, with the
node's reset on stamps jumping back: shared by bag info, bag fuse and eval-detection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from fusion_ros.defaults import SYNC_QUEUE_SIZE, SYNC_SLOP_S
from fusion_ros.errors import BagError
from fusion_ros.io.bag import BagMessage, read_bag
from fusion_ros.io.read_ahead import read_ahead
from fusion_ros.stream.pairing import FusionStream, StreamSettings

__all__ = ['SyncedPairs']


class SyncedPairs:
    """Iterate ``(thermal, rgb)`` :class:`BagMessage` pairs of ``bag`` in log-time order.

    Args:
        topics: the thermal and RGB image topics.
        on_message: called with every message of the bag (all topics) as it is read; without
            it only the two image topics are read.

    Attributes (after or during iteration):
        messages: messages read; time_jumps: synchronizer resets;
        unstamped: ``(log time ns, reason)`` of image messages without a readable header.
    """

    def __init__(self, bag: Path, topics: tuple[str, str], slop_s: float = SYNC_SLOP_S,
                 queue_size: int = SYNC_QUEUE_SIZE,
                 on_message: Callable[[BagMessage], None] | None = None, *,
                 stream: FusionStream | None = None, read_ahead: int = 0) -> None:
        self.bag, self.topics, self.on_message = Path(bag), topics, on_message
        self.read_ahead = read_ahead  # messages a thread reads ahead (0: none)
        # the node's stream object: pairing policy and day/night too (bag fuse passes one)
        self.stream = stream or FusionStream(StreamSettings(slop_s=slop_s,
                                                            queue_size=queue_size))
        self.messages = 0
        self.time_jumps = 0
        self.unstamped: list[tuple[int, str]] = []

    def __iter__(self) -> Iterator[tuple[BagMessage, BagMessage]]:
        index = {self.topics[0]: 0, self.topics[1]: 1}
        pairer = self.stream
        pairer.reset()
        messages = read_bag(self.bag, None if self.on_message else index)
        for m in read_ahead(messages, self.read_ahead):
            self.messages += 1
            if self.on_message is not None:
                self.on_message(m)
            if m.topic not in index:
                continue
            try:
                stamp = m.header_stamp()
            except BagError as err:
                self.unstamped.append((m.time_ns, f'{m.topic}: {err}'))
                continue
            completed = pairer.add(index[m.topic], stamp, m)
            self.time_jumps = pairer.time_jumps
            yield from completed

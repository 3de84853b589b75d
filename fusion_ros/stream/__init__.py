# SPDX-License-Identifier: Apache-2.0
"""A thermal + RGB stream around the engine, as the node and ``bag fuse`` both run it:
frames paired by stamp and day/night with hysteresis (``pairing``, on ``hysteresis``), and
the one-slot hand-over from callbacks to the inference thread (``slot``)."""

from fusion_ros.stream.hysteresis import NightHysteresis
from fusion_ros.stream.pairing import STREAM_PARAMS, FusionStream, StreamSettings
from fusion_ros.stream.slot import LatestSlot

__all__ = ['STREAM_PARAMS', 'FusionStream', 'LatestSlot', 'NightHysteresis', 'StreamSettings']

# SPDX-License-Identifier: Apache-2.0
"""The fused frames' CameraInfo: each frame gets its own camera's info, also when the worker
publishes the frame before that info's callback ran (a busy machine)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

pytest.importorskip('diagnostic_msgs')

from fusion_ros.ros.fusion_report import CAMERA_INFOS_KEPT, CameraInfoCache


def _header(sec: int) -> SimpleNamespace:
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=0), frame_id='rgb_camera')


def _info(sec: int, width: int) -> SimpleNamespace:
    return SimpleNamespace(header=_header(sec), width=width)


def test_a_frame_published_before_its_info_gets_its_own_info_when_it_arrives():
    cache, sent = CameraInfoCache(), []
    cache.add(_info(1, 100))
    cache.deliver(_header(1), sent.append)  # its info is here: sent at once
    cache.deliver(_header(2), sent.append)  # frame 2 fused before info 2 arrived
    assert [s.width for s in sent] == [100]  # not frame 1's info in its place
    cache.add(_info(2, 200))
    assert [(s.width, s.header.stamp.sec) for s in sent] == [(100, 1), (200, 2)]
    cache.add(_info(3, 300))  # nothing waits any more: nothing more is sent
    assert len(sent) == 2


def test_a_frame_whose_info_never_comes_gets_the_next_one():
    """A driver that stamps its infos apart from the images: each frame waits for the next
    info, then carries it with its own header."""
    cache, sent = CameraInfoCache(), []
    cache.deliver(_header(5), sent.append)  # no info yet at all
    assert sent == []
    cache.add(_info(6, 640))
    assert [(s.width, s.header.stamp.sec) for s in sent] == [(640, 5)]
    cache.deliver(_header(4), sent.append)  # older than the newest info: that one, at once
    assert [(s.width, s.header.stamp.sec) for s in sent][-1] == (640, 4)


def test_waiting_frames_are_bounded_and_clear_forgets_them():
    cache, sent = CameraInfoCache(), []
    for k in range(CAMERA_INFOS_KEPT + 10):
        cache.deliver(_header(k + 1), sent.append)
    cache.add(_info(10_000, 1))
    assert len(sent) == CAMERA_INFOS_KEPT  # the newest waiting frames, oldest dropped
    assert sorted(s.header.stamp.sec for s in sent)[0] == 11
    cache.deliver(_header(20_000), sent.append)
    cache.clear()
    cache.add(_info(30_000, 2))
    assert len(sent) == CAMERA_INFOS_KEPT


def test_infos_and_frames_from_two_threads_each_get_exactly_one_info():
    cache, sent, lock = CameraInfoCache(), [], threading.Lock()

    def publish(info):
        with lock:
            sent.append(info)

    def fuse():  # the worker, racing the infos but never more than 32 frames ahead
        for k in range(1, 2001):
            while k > 32 and (cache.latest is None or cache.latest.header.stamp.sec < k - 32):
                time.sleep(0)
            cache.deliver(_header(k), publish)

    frames = threading.Thread(target=fuse)
    frames.start()
    for k in range(1, 2001):
        cache.add(_info(k, k))
    frames.join()
    stamps = sorted(s.header.stamp.sec for s in sent)
    assert stamps == list(range(1, 2001))
    # every frame carries the info of its stamp or, sent at once, a newer one
    assert all(s.width >= s.header.stamp.sec for s in sent)

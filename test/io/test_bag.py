# SPDX-License-Identifier: Apache-2.0
"""rosbag2 writing/reading through rosbags."""

import numpy as np
import pytest

from fusion_ros.errors import BagError
from fusion_ros.io.bag import BagWriter, cdr_header_stamp, read_bag, remove_bag
from fusion_ros.io.image_msg import image_to_array


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_image_round_trip(tmp_path, storage):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (6, 8, 3), dtype=np.uint8) for _ in range(3)]
    stamps = [1_700_000_000_000_000_123 + i * 50_000_000 for i in range(3)]
    with BagWriter(tmp_path / 'b', storage=storage) as bag:
        for arr, s in zip(frames, stamps):
            bag.write_image('/rgb/image_raw', arr, 'rgb8', s, 'cam')
    msgs = list(read_bag(tmp_path / 'b'))
    assert [m.time_ns for m in msgs] == stamps
    assert [cdr_header_stamp(m.raw) for m in msgs] == stamps
    for m, arr in zip(msgs, frames):
        decoded = m.decode()
        assert decoded.header.frame_id == 'cam'
        np.testing.assert_array_equal(image_to_array(decoded), arr)


def test_topic_filter(tmp_path):
    with BagWriter(tmp_path / 'b') as bag:
        bag.write_image('/a', np.zeros((2, 2), np.uint8), 'mono8', 1, 'a')
        bag.write_image('/b', np.zeros((2, 2), np.uint8), 'mono8', 2, 'b')
    assert [m.topic for m in read_bag(tmp_path / 'b', ['/b'])] == ['/b']


def test_existing_output_and_missing_input_raise(tmp_path):
    (tmp_path / 'exists').mkdir()
    with pytest.raises(BagError, match='already exists'):
        BagWriter(tmp_path / 'exists')
    with pytest.raises(BagError, match='cannot read bag'):
        list(read_bag(tmp_path / 'nothing'))


def test_remove_bag_refuses_non_bag_directories(tmp_path):
    (tmp_path / 'precious').mkdir()
    (tmp_path / 'precious' / 'thesis.tex').write_text('x')
    with pytest.raises(BagError, match='not a rosbag2'):
        remove_bag(tmp_path / 'precious')
    assert (tmp_path / 'precious' / 'thesis.tex').exists()
    with BagWriter(tmp_path / 'b') as bag:
        bag.write_image('/a', np.zeros((2, 2), np.uint8), 'mono8', 1, 'a')
    remove_bag(tmp_path / 'b')
    assert not (tmp_path / 'b').exists()


def test_cdr_header_stamp_rejects_short_buffers():
    with pytest.raises(BagError):
        cdr_header_stamp(b'\x00\x01\x00\x00')


def test_bag_topics_reads_metadata_only(tmp_path):
    from fusion_ros.io.bag import bag_topics

    with BagWriter(tmp_path / 'b') as bag:
        bag.write_image('/a', np.zeros((2, 2), np.uint8), 'mono8', 1, 'a')
    assert bag_topics(tmp_path / 'b') == {'/a': 'sensor_msgs/msg/Image'}

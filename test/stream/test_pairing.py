# SPDX-License-Identifier: Apache-2.0
"""The stream object the node and bag fuse share: its settings from a node's parameters
file, range checks, and every pair a frame completes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion_ros import defaults
from fusion_ros.cli.main import main
from fusion_ros.errors import ConfigError
from fusion_ros.stream.pairing import FusionStream, StreamSettings

MS = 1_000_000


def test_settings_default_to_the_one_home_of_defaults():
    s = StreamSettings()
    assert (s.slop_s, s.queue_size, s.policy) == (defaults.SYNC_SLOP_S, defaults.SYNC_QUEUE_SIZE,
                                                  defaults.SYNC_POLICY)
    assert (s.night_threshold, s.day_threshold, s.min_dwell_s) == (
        defaults.NIGHT_THRESHOLD, defaults.DAY_THRESHOLD, defaults.MIN_DWELL_S)


def test_settings_from_a_parameters_file_nested_dotted_and_per_node(tmp_path):
    path = tmp_path / 'fusion.yaml'
    path.write_text(
        '/**:\n  ros__parameters:\n    sync:\n      slop: 0.05\n      policy: nearest\n'
        '    illumination.min_dwell_s: 0.5\n    model: dfvo\n'
        '/robot/fusion_node:\n  ros__parameters:\n    sync.queue_size: 4\n'
        'detector_node:\n  ros__parameters:\n    sync.queue_size: 99\n')
    s = StreamSettings.from_params_file(path)
    assert (s.slop_s, s.policy, s.queue_size, s.min_dwell_s) == (0.05, 'nearest', 4, 0.5)
    assert s.night_threshold == defaults.NIGHT_THRESHOLD  # not in the file: the default
    # the shipped config file is the defaults, spelled out
    root = Path(__file__).resolve().parents[2]
    assert StreamSettings.from_params_file(root / 'config' / 'fusion.yaml') == StreamSettings()


@pytest.mark.parametrize('text, message', [
    ('/**:\n  ros__parameters:\n    illumination.night_threshold: 0.9\n', 'night_threshold'),
    ('/**:\n  ros__parameters:\n    sync.policy: exact\n', 'policy'),
    ('/**:\n  ros__parameters:\n    sync.queue_size: 0\n', 'queue_size'),
    ('- a list\n', 'not a ROS 2 parameters file'),
    ('/**: [unclosed\n', 'cannot read'),
])
def test_a_bad_parameters_file_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        StreamSettings.from_params_file(path)


def test_bag_fuse_refuses_a_bad_parameters_file_with_exit_2(tmp_path, capsys):
    path = tmp_path / 'bad.yaml'
    path.write_text('/**:\n  ros__parameters:\n    illumination.night_threshold: 0.9\n')
    assert main(['bag', 'fuse', str(tmp_path / 'in'), str(tmp_path / 'out'), '--model', 'max',
                 '--params-file', str(path)]) == 2
    assert 'night_threshold' in capsys.readouterr().err


def test_every_pair_a_frame_completes_is_returned_and_called_back():
    """nearest: thermal frames wait for an RGB frame after them; one RGB frame can settle
    several (a slow thermal camera's backlog), and none may be lost."""
    called = []
    stream = FusionStream(StreamSettings(policy='nearest', slop_s=0.05),
                          on_pair=lambda t, r: called.append((t, r)))
    assert stream.add(0, 1_000 * MS, 't0') == []
    assert stream.add(0, 1_100 * MS, 't1') == []
    assert stream.add(1, 998 * MS, 'r0') == []  # before t0: a nearer one may still come
    released = stream.add(1, 1_102 * MS, 'r1')  # settles t0 (with r0) and t1 at once
    assert released == [('t0', 'r0'), ('t1', 'r1')] == called


def test_illumination_changes_keep_the_state_and_bad_ones_change_nothing():
    stream = FusionStream(StreamSettings(min_dwell_s=0.0))
    assert stream.night is None
    assert stream.is_night(0.1, 0) is True
    with pytest.raises(ConfigError):
        stream.set_illumination(0.9, 0.1, 0.0)
    assert stream.settings.night_threshold == defaults.NIGHT_THRESHOLD
    stream.set_illumination(0.2, 0.95, 0.0)
    assert stream.night is True and stream.is_night(0.9, 1) is True  # below the new 0.95
    assert stream.is_night(0.99, 2) is False

# SPDX-License-Identifier: Apache-2.0
"""The fusion-ros command line."""

import json
import subprocess
import sys

import pytest

from fusion_ros.cli.main import SUBCOMMANDS, main
from fusion_ros.io.bag import cdr_header_stamp, read_bag


def test_top_level_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize('name', list(SUBCOMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, '--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert 'usage: fusion-ros ' + name in out
    assert '``' not in out  # plain text, no reStructuredText markup


def test_subcommand_summaries_are_whole_sentences():
    from fusion_ros.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == 'command')
    for choice in sub._choices_actions:
        assert choice.help.endswith(('.', ')')) and '``' not in choice.help, choice.help


def test_help_does_not_import_torch():
    code = ('import sys; from fusion_ros.cli.main import main\n'
            'try: main(["demo", "--help"])\nexcept SystemExit: pass\n'
            'assert "torch" not in sys.modules and "rclpy" not in sys.modules')
    subprocess.run([sys.executable, '-c', code], check=True, capture_output=True)


def test_synth_writes_a_bag(tmp_path, capsys):
    out = tmp_path / 'seq'
    assert main(['synth', str(out), '--seconds', '1', '--size', '96x64', '--seed', '2']) == 0
    assert '20 thermal + RGB pairs' in capsys.readouterr().out
    msgs = list(read_bag(out))
    topics = [m.topic for m in msgs]
    assert topics.count('/thermal/image_raw') == 20 and topics.count('/rgb/image_raw') == 20
    rgb = next(m.decode() for m in msgs if m.topic == '/rgb/image_raw')
    assert (rgb.width, rgb.height, rgb.encoding) == (96, 64, 'rgb8')
    assert rgb.header.frame_id == 'rgb_camera'
    # log time equals header stamp, as for a live recording
    assert all(m.time_ns == cdr_header_stamp(m.raw) for m in msgs)


def test_synth_refuses_to_overwrite_without_flag(tmp_path, capsys):
    out = tmp_path / 'seq'
    assert main(['synth', str(out), '--seconds', '0.2', '--size', '64x64']) == 0
    assert main(['synth', str(out), '--seconds', '0.2', '--size', '64x64']) == 1
    assert 'already exists' in capsys.readouterr().err
    assert main(['synth', str(out), '--seconds', '0.2', '--size', '64x64', '--overwrite']) == 0


def test_bad_size_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['synth', 'x', '--size', '640by512'])
    assert exc.value.code == 2
    assert 'size must look like 640x512' in capsys.readouterr().err


def test_models_json(capsys):
    assert main(['models', '--json']) == 0
    rows = {r['model']: r for r in json.loads(capsys.readouterr().out)}
    assert rows['laplacian']['params'] == 0 and rows['laplacian']['weights'] == 'none needed'
    assert rows['fastfusion']['shipped_weights'] and rows['fastfusion']['weights'].endswith('.pt')
    assert rows['dfvo']['shipped_weights'] and rows['dfvo']['weights'].endswith('dfvo.pt')
    assert rows['didfuse']['shipped_weights'] and rows['didfuse']['weights'].endswith(
        'didfuse.pt')
    assert rows['didfuse']['description'].startswith('DIDFuse')
    assert rows['fastfusion']['auto_precision'] and not rows['max']['auto_precision']


@pytest.mark.parametrize(('argv', 'named'), [
    (['launch', '--set', 'sync.slop=abc'], 'sync.slop'),
    (['launch', '--set', 'nosuchparam=1'], 'nosuchparam'),
    (['launch', '--set', 'detector_node:score_threshold=[1, 2]'], 'score_threshold'),
    (['launch', '--set', 'sync.queue_size=0'], 'sync.queue_size'),
    (['launch', '--model', 'fastfuse'], 'fastfuse'),
])
def test_launch_refuses_bad_settings_before_any_node_starts(argv, named, capsys):
    pytest.importorskip('rclpy')
    assert main(argv) == 2  # a wrong argument: usage error, as argparse
    err = capsys.readouterr().err
    assert err.startswith('error:') and named in err and 'Traceback' not in err

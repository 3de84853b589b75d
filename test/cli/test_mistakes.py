# SPDX-License-Identifier: Apache-2.0
"""The mistakes users really make, across every subcommand: one clear line naming what is
wrong, exit 2 for a wrong argument and 1 for a failure, never a traceback."""

from __future__ import annotations

import shlex

import cv2
import numpy as np
import pytest

from fusion_ros.cli.main import main

# (command line, exit code, text the error line must contain)
MISTAKES = [
    ('fuse --ir nope.png --vi nope.png --out o.png', 1, "'nope.png' does not exist"),
    ('fuse --ir ir/a.png --vi vi --out o.png', 2, '--ir and --vi must both be files'),
    ('fuse --model nosuch --ir ir/a.png --vi vi/a.png --out o.png', 2,
     "unknown model 'nosuch'"),
    ('fuse --ir ir/a.png --vi vi/a.png --out o', 2, "--out 'o' has no image extension"),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --option nokey=1', 2, "no option 'nokey'"),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --option width=abc', 2,
     "option width takes a int (default 24), got 'abc'"),
    ('fuse --model laplacian --ir ir/a.png --vi vi/a.png --out o.png --option levels=99', 2,
     'option levels must be in [2, 10] (default 4), got 99'),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --option weak_detail=-0.5', 2,
     'option weak_detail must be in [0, 1] (default 0.3), got -0.5'),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --precision fp64', 2,
     "argument --precision: invalid choice: 'fp64'"),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --device cuda:3', 1, "device 'cuda:3'"),
    ('fuse --ir ir/a.png --vi vi/a.png --out ir/a.png --overwrite', 1,
     'would be written into an input'),
    ('fuse --ir ir/a.png --vi vi/a.png --out vi/a.png', 1, 'would be written into an input'),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --weights nothing.pt', 1,
     "weights file 'nothing.pt' does not exist"),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --weights notes.txt', 1,
     "cannot load 'notes.txt' as plain tensors"),
    ('fuse --ir empty --vi vi --out outdir/', 1, 'no pairs with the same file stem'),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --format gif', 2, 'argument --format'),
    ('eval --ir ir --vi vi', 2, 'the following arguments are required: --out'),
    ('eval --out rep', 2, 'give --ir and --vi, or --benchmark'),
    ('eval --ir ir --vi vi --out rep', 2, 'nothing to evaluate: give --fused'),
    ('eval --benchmark nosuch --out rep', 2, "--benchmark 'nosuch' is neither"),
    ('eval --ir ir --vi vi --fused x=vi --out notes.txt', 2,
     "--out 'notes.txt' is a file, not a folder"),
    ('eval --ir ir --vi vi --fused x --out rep', 2, 'argument --fused: expected NAME=DIR'),
    ('eval --ir ir --vi vi --fused x=vi --metrics NOPE --out rep', 2,
     "argument --metrics: invalid choice: 'NOPE'"),
    ('bench model --repeat 0', 2, '--repeat must be >= 1'),
    ('bench model --model nosuch', 2, "unknown model 'nosuch'"),
    ('bench model --size 12', 2, "argument --size: size must look like 640x512, got '12'"),
    ('bench model --size 0x0', 2, 'argument --size: size must be positive'),
    ('register', 2, 'one of the arguments --bag --ir is required'),
    ('register --ir ir', 2, '--ir needs --vi'),
    ('register --ir ir --vi vi --frames 0', 2, '--frames must be >= 1'),
    ('register --bag nope.bag', 1, "cannot read bag 'nope.bag'"),
    ('register --ir ir --vi vi --model bogus', 2, "argument --model: invalid choice: 'bogus'"),
    ('register --ir ir --vi vi --out notes.txt', 2, "--out 'notes.txt' is a file"),
    ('register --ir ir --vi empty', 1, 'no pairs: no file name in ir has a partner'),
    ('register --ir ir --vi vi', 1, 'none of the 1 frames has enough structure'),
    ('synth', 2, 'the following arguments are required: out_bag'),
    ('synth out.bag --size 10x10', 1, 'size must be at least 64x64'),
    ('synth out.bag --thermal-offset 1,2,x', 2, 'argument --thermal-offset'),
    ('synth out.bag --fps 0', 2, 'argument --fps: must be > 0'),
    ('bag info nope.bag', 1, 'nope.bag'),
    ('bag info notes.txt', 1, 'notes.txt'),
    ('bag convert pairs empty out.bag', 1, 'empty'),
    ('bag convert nolayout ir out.bag', 2, "argument layout: invalid choice: 'nolayout'"),
    ('bag fuse nope.bag out.bag', 1, "cannot read bag 'nope.bag'"),
    ('bag play nope.bag', 1, "cannot read bag 'nope.bag'"),
    ('launch --exit-after-bag', 2, '--exit-after-bag needs --bag'),
    ('launch --set nosuchparam=1', 2, "fusion_node has no parameter 'nosuchparam'"),
    ('launch --set sync.slop=abc', 2, "parameter sync.slop takes a number, got 'abc'"),
    ('launch --model nosuch', 2, "unknown model 'nosuch'"),
    ('launch --bag nope.bag', 1, "cannot read bag 'nope.bag'"),
    ('launch --record notes.txt', 1, "'notes.txt' already exists"),
    ('train nosuch --data ir --out run', 2, "argument MODEL: invalid choice: 'nosuch'"),
    ('train fastfusion --data nope --out run', 1, "--data 'nope'"),
    ('train fastfusion --data ir --out run --epochs 0', 1, 'epochs must be >= 1'),
    ('illumination nope.png', 1, "nope.png: cannot read image 'nope.png': no such file"),
    ('illumination notes.txt', 1, 'not an image OpenCV can decode'),
    ('models --options nosuch', 2, "unknown model 'nosuch'"),
    ('export --model piafusion --option flavour=port --out exported', 1,
     "'piafusion' needs trained weights"),
    ('export --model fastfusion --format tflite --out exported', 2,
     "argument --format: invalid choice: 'tflite'"),
    ('fuse --ir ir/a.png --vi vi/a.png --out o.png --backend tensorrt', 2,
     "argument --backend: invalid choice: 'tensorrt'"),
    ('eval-detection', 2, 'give --bag, or --ir, --vi and --labels'),
    ('eval-detection --bag nope.bag', 1, "'nope.bag/ground_truth.json' does not exist"),
    ('eval-detection --bag nope.bag --every 0', 2, '--every must be >= 1'),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / 'ir').mkdir()
    (tmp_path / 'vi').mkdir()
    (tmp_path / 'empty').mkdir()
    flat = np.full((64, 80), 100, np.uint8)  # textureless: register refuses it
    cv2.imwrite(str(tmp_path / 'ir' / 'a.png'), flat)
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.dstack([flat] * 3))
    (tmp_path / 'notes.txt').write_text('not an image, not a bag, not a checkpoint')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_table_is_large_and_covers_every_subcommand():
    from fusion_ros.cli.main import SUBCOMMANDS

    assert len(MISTAKES) >= 40
    used = {shlex.split(cmd)[0] for cmd, _, _ in MISTAKES}
    assert used >= set(SUBCOMMANDS) - {'demo'}  # demo takes no input to get wrong


@pytest.mark.parametrize(('command', 'code', 'text'), MISTAKES,
                         ids=[c for c, _, _ in MISTAKES])
def test_mistake_gives_one_clear_line(workdir, capsys, command, code, text):
    try:
        got = main(shlex.split(command))
    except SystemExit as exc:  # argparse's own usage errors
        got = exc.code
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err
    assert got == code, err
    assert text in err, err
    assert err.strip().splitlines()[-1].startswith(('error: ', 'failed: ', 'fusion-ros')), err


def test_debug_shows_the_traceback(workdir, capsys, monkeypatch):
    from fusion_ros.errors import BagError, UsageError

    with pytest.raises(UsageError):
        main(['--debug', 'register', '--ir', 'ir'])
    monkeypatch.setenv('FUSION_ROS_DEBUG', '1')
    with pytest.raises(BagError):
        main(['bag', 'info', 'nope.bag'])


def test_os_and_opencv_errors_are_one_line(capsys):
    from fusion_ros.cli.main import error_line

    line, code = error_line(PermissionError(13, 'Permission denied', '/ro/out.png'))
    assert (line, code) == ('error: /ro/out.png: Permission denied', 1)
    line, code = error_line(cv2.error('OpenCV(4.14) x.cpp:1: error: (-215) bad size in f'))
    assert code == 1 and line.startswith('error: cv2 error: ') and 'bad size' in line
    assert error_line(MemoryError())[0].startswith('error: out of memory')

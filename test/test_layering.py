# SPDX-License-Identifier: Apache-2.0
"""The torch/numpy core never imports rclpy."""

import subprocess
import sys

CORE = [
    'fusion_ros.errors', 'fusion_ros.io.image_msg', 'fusion_ros.io.sync', 'fusion_ros.io.bag',
    'fusion_ros.ops.color', 'fusion_ros.ops.convert', 'fusion_ros.ops.illumination',
    'fusion_ros.models', 'fusion_ros.engine', 'fusion_ros.data.synthetic',
    'fusion_ros.viz.contact_sheet', 'fusion_ros.cli.main', 'fusion_ros.cli.synth',
    'fusion_ros.resources',
]


def test_core_modules_do_not_import_rclpy():
    code = ('import importlib, sys\n'
            f'for m in {CORE!r}: importlib.import_module(m)\n'
            'bad = sorted(m for m in sys.modules if m.split(".")[0] in '
            '("rclpy", "sensor_msgs", "std_msgs"))\n'
            'assert not bad, bad')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_io_layer_imports_no_torch():
    code = ('import sys; import fusion_ros.io.image_msg, fusion_ros.io.sync, fusion_ros.io.bag\n'
            'assert "torch" not in sys.modules')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr

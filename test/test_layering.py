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


def test_every_core_module_stays_clear_of_ros_and_the_cli():
    """Every module outside ``ros/`` and ``cli/`` (found by walking the package, so a new one
    is covered the day it lands) imports neither rclpy and its message packages nor the
    package's own ROS or CLI layers."""
    code = """
import importlib, pkgutil, sys
import fusion_ros
core = sorted(m.name for m in pkgutil.walk_packages(fusion_ros.__path__, 'fusion_ros.')
              if not m.name.startswith(('fusion_ros.ros', 'fusion_ros.cli'))
              and m.name not in ('fusion_ros.__main__', 'fusion_ros.train'))
assert len(core) > 60, core
for name in core:
    importlib.import_module(name)
outside = ('rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'rcl_interfaces')
# walk_packages imports the two packages' __init__ to look inside (they import nothing)
bad = sorted(m for m in sys.modules if m.split('.')[0] in outside
             or m.startswith(('fusion_ros.ros.', 'fusion_ros.cli.')))
assert not bad, bad
print(len(core))
"""
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.split()[-1]) > 60

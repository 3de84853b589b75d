# SPDX-License-Identifier: Apache-2.0
"""Package metadata and configuration agree with the code."""

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]


def test_package_xml_is_format_3_ament_python():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'fusion_ros'
    assert root.find('export/build_type').text == 'ament_python'
    deps = {e.text for e in root.iter('exec_depend')}
    for dep in ('rclpy', 'sensor_msgs', 'std_msgs', 'python3-numpy', 'python3-opencv'):
        assert dep in deps


def test_setup_declares_node_executables_and_resources():
    text = (ROOT / 'setup.py').read_text()
    assert 'fusion_node = fusion_ros.ros.fusion_node:main' in text
    assert 'fusion-ros = fusion_ros.cli.main:main' in text
    assert (ROOT / 'resource' / 'fusion_ros').exists()
    assert '$base/lib/fusion_ros' in (ROOT / 'setup.cfg').read_text()


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def test_fusion_yaml_mirrors_node_params():
    pytest.importorskip('rclpy')
    from fusion_ros.ros.fusion_node import PARAMS

    config = yaml.safe_load((ROOT / 'config' / 'fusion.yaml').read_text())
    values = _flatten(config['/**']['ros__parameters'])
    assert values == {p.name: p.default for p in PARAMS}


def test_launch_file_parses_and_uses_the_config():
    source = (ROOT / 'launch' / 'fusion.launch.py').read_text()
    ast.parse(source)
    assert "'fusion.yaml'" in source and "executable='fusion_node'" in source

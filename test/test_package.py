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


def test_the_ray_extra_pins_what_the_suite_installs():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    pins = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
    required = [ln.strip() for ln in (ROOT / 'requirements.txt').read_text().splitlines()
                if ln.startswith('ray==')]
    assert required == [pins['RAY']]
    assert "extras_require={'ray': [RAY]}" in (ROOT / 'setup.py').read_text()


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


@pytest.mark.parametrize(('config', 'module'), [
    ('fusion.yaml', 'fusion_ros.ros.fusion_node'),
    ('detector.yaml', 'fusion_ros.ros.detector_node'),
])
def test_config_files_mirror_node_params(config, module):
    pytest.importorskip('rclpy')
    import importlib

    params = importlib.import_module(module).PARAMS
    doc = yaml.safe_load((ROOT / 'config' / config).read_text())
    values = _flatten(doc['/**']['ros__parameters'])
    assert values == {p.name: p.default for p in params}


def test_launch_files_parse_and_use_the_shared_plan():
    for name in ('fusion.launch.py', 'replay.launch.py'):
        ast.parse((ROOT / 'launch' / name).read_text())
    source = (ROOT / 'launch' / 'fusion.launch.py').read_text()
    assert 'plan_nodes(' in source and 'bag_player_command(' in source
    assert 'fusion.launch.py' in (ROOT / 'launch' / 'replay.launch.py').read_text()


def test_launch_plan_matches_the_executables_and_configs():
    from fusion_ros.launch_plan import plan_nodes, ros_arguments

    text = (ROOT / 'setup.py').read_text()
    plans = plan_nodes(model='max', use_sim_time=True,
                       overrides={'detector_node': {'backend': 'onnx'}})
    assert [p.name for p in plans] == ['fusion_node', 'detector_node']
    for plan in plans:
        assert f'{plan.executable} = {plan.module}:main' in text
        assert (ROOT / plan.config).is_file()
        assert plan.overrides['use_sim_time'] is True
    assert plans[0].overrides['model'] == 'max' and plans[1].overrides['backend'] == 'onnx'
    args = ros_arguments(plans[0], 'f.yaml', 'car1')
    assert args[:5] == ['--ros-args', '-r', '__node:=fusion_node', '-r', '__ns:=/car1']
    assert '-p' in args and 'use_sim_time:=true' in args
    assert [p.name for p in plan_nodes(detector=False)] == ['fusion_node']
    with pytest.raises(ValueError, match='not started'):
        plan_nodes(detector=False, overrides={'detector_node': {'x': 1}})


def test_rviz_config_shows_every_image_with_matching_qos():
    doc = yaml.safe_load((ROOT / 'config' / 'fusion.rviz').read_text())
    topics = {d['Topic']['Value']: d['Topic']['Reliability Policy']
              for d in doc['Visualization Manager']['Displays']
              if d['Class'] == 'rviz_default_plugins/Image'}
    assert topics == {'/thermal/image_raw': 'Best Effort', '/rgb/image_raw': 'Best Effort',
                      '/fused/image_raw': 'Reliable', '/enhanced/image_raw': 'Reliable',
                      '/detections/image': 'Reliable'}

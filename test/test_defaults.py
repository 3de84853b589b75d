# SPDX-License-Identifier: Apache-2.0
"""Every shared default has one home, ``fusion_ros.defaults``: changed there, it changes
for the node's parameters, ``bag fuse``, the bag tools' pairing, the engine and the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHANGED = {
    'SYNC_SLOP_S': 0.125, 'SYNC_QUEUE_SIZE': 7, 'SYNC_POLICY': 'nearest',
    'NIGHT_THRESHOLD': 0.2, 'DAY_THRESHOLD': 0.8, 'MIN_DWELL_S': 5.0,
    'THERMAL_AGC': [2.0, 98.0], 'REGISTRATION_CHECK_EVERY': 11,
    'REGISTRATION_WARN_RATIO': 0.5,
}

# change the defaults first, then import the package as any user of it would
_PROBE = """
import inspect, json, sys
import fusion_ros.defaults as defaults
for key, value in json.loads(sys.argv[1]).items():
    setattr(defaults, key, tuple(value) if isinstance(value, list) else value)

from fusion_ros.bagtools import fuse, info, pairs
from fusion_ros.cli import bag as bag_cli
from fusion_ros.cli.main import build_parser
from fusion_ros.engine.engine import FusionEngine
from fusion_ros.registration import RegistrationMonitor
from fusion_ros.ros.fusion_params import PARAMS

def default(fn, name):
    return inspect.signature(fn).parameters[name].default

stream = fuse.FusionStream(None).settings  # what fuse_bag runs without settings
bag_args = build_parser().parse_args(['bag', 'fuse', 'in', 'out'])
cli = bag_cli.stream_settings(bag_args)
monitor = RegistrationMonitor()
print(json.dumps({
    'node': {p.name: p.default for p in PARAMS},
    'bag fuse': [stream.slop_s, stream.queue_size, stream.policy],
    'bag fuse night': [stream.night_threshold, stream.day_threshold, stream.min_dwell_s],
    'pairs': [default(pairs.SyncedPairs, 'slop_s'), default(pairs.SyncedPairs, 'queue_size')],
    'bag info': [default(info.count_pairs, 'slop_s'), default(info.count_pairs, 'queue_size')],
    'cli': [cli.slop_s, cli.queue_size, cli.policy],
    'engine agc': list(default(FusionEngine.__init__, 'thermal_agc')),
    'monitor': [monitor.every, monitor.warn_ratio],
}))
"""


def test_a_default_changed_in_its_one_home_changes_everywhere():
    pytest.importorskip('rclpy')  # the node's parameter table
    out = subprocess.run([sys.executable, '-c', _PROBE, json.dumps(CHANGED)],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    c = CHANGED
    assert seen['node']['sync.slop'] == c['SYNC_SLOP_S']
    assert seen['node']['sync.queue_size'] == c['SYNC_QUEUE_SIZE']
    assert seen['node']['sync.policy'] == c['SYNC_POLICY']
    assert seen['node']['thermal.agc'] == c['THERMAL_AGC']
    assert seen['node']['registration.check_every'] == c['REGISTRATION_CHECK_EVERY']
    assert seen['node']['registration.warn_ratio'] == c['REGISTRATION_WARN_RATIO']
    assert [seen['node'][f'illumination.{k}'] for k in
            ('night_threshold', 'day_threshold', 'min_dwell_s')] == [
        c['NIGHT_THRESHOLD'], c['DAY_THRESHOLD'], c['MIN_DWELL_S']]
    pairing = [c['SYNC_SLOP_S'], c['SYNC_QUEUE_SIZE']]
    assert seen['pairs'] == seen['bag info'] == pairing
    assert seen['bag fuse'] == seen['cli'] == [*pairing, c['SYNC_POLICY']]
    assert seen['bag fuse night'] == [c['NIGHT_THRESHOLD'], c['DAY_THRESHOLD'],
                                      c['MIN_DWELL_S']]
    assert seen['engine agc'] == c['THERMAL_AGC']
    assert seen['monitor'] == [c['REGISTRATION_CHECK_EVERY'], c['REGISTRATION_WARN_RATIO']]


def test_the_shipped_params_file_spells_out_the_same_defaults():
    """``config/fusion.yaml`` is what users edit: its values are the defaults' values."""
    pytest.importorskip('rclpy')
    import yaml

    from fusion_ros import defaults as d

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / 'config' / 'fusion.yaml').read_text())['/**'][
        'ros__parameters']
    assert params['sync'] == {'slop': d.SYNC_SLOP_S, 'queue_size': d.SYNC_QUEUE_SIZE,
                              'policy': d.SYNC_POLICY}
    assert params['illumination'] == {'night_threshold': d.NIGHT_THRESHOLD,
                                      'day_threshold': d.DAY_THRESHOLD,
                                      'min_dwell_s': d.MIN_DWELL_S}
    assert tuple(params['thermal']['agc']) == d.THERMAL_AGC
    assert params['registration']['check_every'] == d.REGISTRATION_CHECK_EVERY
    assert params['registration']['warn_ratio'] == d.REGISTRATION_WARN_RATIO

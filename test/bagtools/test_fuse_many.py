# SPDX-License-Identifier: Apache-2.0
"""``bag fuse-many`` in one process (``--engine loop``): one output per input equal to
single-bag ``bag fuse``, a manifest line per bag, a damaged input failing alone, a re-run
that skips finished bags, and one job per output folder."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from fusion_ros.bagtools.fuse import fuse_bag
from fusion_ros.bagtools.many import MANIFEST, find_bags, plan_jobs, read_manifest
from fusion_ros.cli.main import main
from fusion_ros.cli.synth import write_synthetic_bag
from fusion_ros.engine import FusionEngine
from fusion_ros.errors import ConfigError
from fusion_ros.io.bag import read_bag


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """Four 1 s drives in two folders (one name twice), one damaged."""
    root = tmp_path_factory.mktemp('fleet')
    for k, rel in enumerate(('car1/night', 'car1/day', 'car2/night', 'car2/broken')):
        write_synthetic_bag(root / rel, seconds=1.0, size=(64, 64), seed=k, progress=False)
    for mcap in (root / 'car2' / 'broken').glob('*.mcap'):
        mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])  # a recorder cut off
    return root


def _messages(bag):
    return [(m.topic, m.time_ns, bytes(m.raw)) for m in read_bag(bag)]


def test_sources_are_bags_folders_globs_and_list_files(fleet, tmp_path):
    listing = tmp_path / 'bags.txt'
    listing.write_text(f'# two drives\n{fleet / "car1" / "day"}\n{fleet}/car2/n*\n')
    assert [b.name for b in find_bags([str(listing)])] == ['day', 'night']
    every = find_bags([str(fleet), str(fleet / 'car1' / 'day')])  # each bag once
    assert len(every) == 4
    jobs = plan_jobs(every, tmp_path / 'out')
    assert sorted(j.rel for j in jobs) == ['car1/day', 'car1/night', 'car2/broken',
                                           'car2/night']
    with pytest.raises(ConfigError, match='no such bag'):
        find_bags([str(tmp_path / 'nowhere')])
    with pytest.raises(ConfigError, match='holds no rosbag2'):
        find_bags([str(tmp_path)])


def test_fuse_many_matches_bag_fuse_records_failures_and_resumes(fleet, tmp_path, capsys):
    out = tmp_path / 'out'
    argv = ['bag', 'fuse-many', str(fleet), '--out', str(out), '--model', 'laplacian',
            '--engine', 'loop', '--json']  # one process (Ray's workers: test_fleet_ray)
    assert main(argv) == 1  # one bag failed
    printed = capsys.readouterr()
    assert 'car2/broken' in printed.err and '3 fused' in printed.out
    manifest = read_manifest(out)
    assert sorted(manifest) == ['car1/day', 'car1/night', 'car2/broken', 'car2/night']
    assert manifest['car2/broken']['status'] == 'failed'
    assert 'damaged' in manifest['car2/broken']['reason']
    assert not (out / 'car2' / 'broken').exists()
    assert not list(out.rglob('*.partial'))  # nothing half-written left behind
    engine = FusionEngine('laplacian', device='cpu')
    for rel in ('car1/day', 'car1/night', 'car2/night'):
        entry = manifest[rel]
        assert entry['status'] == 'done' and entry['fused'] == entry['pairs'] > 10
        assert entry['model'] == 'laplacian' and entry['backend'] == 'torch'
        single = tmp_path / 'single' / rel
        fuse_bag(fleet / rel, single, engine)
        assert _messages(out / rel) == _messages(single)  # message for message
    # a re-run skips what is done (outputs untouched), and retries nothing that is done
    stamps = {rel: os.stat(out / rel / 'metadata.yaml').st_mtime_ns
              for rel in ('car1/day', 'car1/night', 'car2/night')}
    assert main(argv) == 1
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith('{')]
    assert sorted(e['status'] for e in again) == ['failed', 'skipped', 'skipped', 'skipped']
    assert stamps == {rel: os.stat(out / rel / 'metadata.yaml').st_mtime_ns for rel in stamps}
    # an output that is gone or damaged since (deleted by hand, a disk problem): fused again
    shutil.rmtree(out / 'car1' / 'day')
    assert main(argv) == 1
    statuses = {json.loads(ln)['rel']: json.loads(ln)['status']
                for ln in capsys.readouterr().out.splitlines() if ln.startswith('{')}
    assert statuses['car1/day'] == 'done' and statuses['car1/night'] == 'skipped'
    assert len((out / MANIFEST).read_text().splitlines()) == 4 + 1 + 1 + 1


def test_a_job_stopped_mid_bag_leaves_no_output_and_the_rerun_finishes(fleet, tmp_path,
                                                                       monkeypatch):
    from fusion_ros.bagtools import many

    jobs = plan_jobs(find_bags([str(fleet / 'car1'), str(fleet / 'car2' / 'night')]),
                     tmp_path / 'out')
    engine = FusionEngine('max', device='cpu')
    real, calls = many.fuse_bag, []

    def stopped_in_the_second(src, dst, *a, **k):
        calls.append(src)
        if len(calls) == 2:
            real(src, dst, *a, **k)  # written in full, then Ctrl-C before it is renamed
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)

    monkeypatch.setattr(many, 'fuse_bag', stopped_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        many.fuse_many(jobs, engine, tmp_path / 'out')
    assert [j.output.exists() for j in jobs] == [True, False, False]
    assert not list((tmp_path / 'out').rglob('*.partial'))
    monkeypatch.setattr(many, 'fuse_bag', real)
    lines = many.fuse_many(jobs, engine, tmp_path / 'out')
    assert [e['status'] for e in lines] == ['skipped', 'done', 'done']


def test_a_second_job_on_the_same_output_folder_is_refused(fleet, tmp_path):
    from fusion_ros.bagtools.many import Manifest

    with Manifest(tmp_path / 'out'):
        assert main(['bag', 'fuse-many', str(fleet / 'car1'), '--out', str(tmp_path / 'out'),
                     '--model', 'laplacian', '--engine', 'loop']) == 1
        with pytest.raises(ConfigError, match='another fuse-many job'), \
                Manifest(tmp_path / 'out'):
            pass
    # nothing fused beside the first job
    assert [p.name for p in (tmp_path / 'out').iterdir()] == [MANIFEST]


@pytest.mark.parametrize('argv, gpus, layout', [
    ([], 0, (2, 1.0, 0.0)),  # a light model: a worker per usable core
    (['--model', 'piafusion'], 0, (1, 2.0, 0.0)),  # heavy: a worker per two cores
    (['--model', 'piafusion', '--cpus-per-worker', '1'], 0, (2, 1.0, 0.0)),
    (['--workers', '3'], 0, (3, 1.0, 0.0)),
    (['--engine', 'ray'], 0, (None, 1.0, 0.0)),  # a cluster: what its resources hold
    (['--model', 'piafusion'], 4, (4, 1.0, 1.0)),  # a worker per GPU
    (['--model', 'piafusion', '--gpus-per-worker', '0.5'], 4, (8, 1.0, 0.5)),
    (['--model', 'piafusion', '--device', 'cpu'], 4, (1, 2.0, 0.0)),
])
def test_local_workers_default_to_the_usable_cores_or_gpus(argv, gpus, layout, monkeypatch):
    from fusion_ros.cli import bag_many
    from fusion_ros.cli.main import build_parser

    monkeypatch.setattr('fusion_ros.threads.usable_cpus', lambda: 2)
    monkeypatch.setattr(bag_many, '_cuda_devices', lambda: gpus)
    args = build_parser().parse_args(['bag', 'fuse-many', 'in', '--out', 'out',
                                      '--model', 'laplacian', *argv])
    assert bag_many._layout(args) == layout


def test_a_cluster_address_nobody_listens_on_fails_at_once():
    import socket

    from fusion_ros.bagtools.fleet import _probe

    with socket.socket() as free:  # a port just freed: nobody listens there
        free.bind(('127.0.0.1', 0))
        port = free.getsockname()[1]
    with pytest.raises(ConfigError, match='cannot reach the Ray cluster'):
        _probe(f'127.0.0.1:{port}')
    with socket.socket() as listening:
        listening.bind(('127.0.0.1', 0))
        listening.listen()
        _probe(f'127.0.0.1:{listening.getsockname()[1]}')  # reachable: Ray's turn
    _probe('auto')
    _probe('ray://head:10001')  # the client protocol: left to Ray


def test_outputs_inside_a_source_folder_are_not_inputs_of_the_rerun(fleet, tmp_path):
    source = tmp_path / 'drives'
    shutil.copytree(fleet / 'car1', source)
    argv = ['bag', 'fuse-many', str(source), '--out', str(source / 'fused'), '--model',
            'laplacian', '--engine', 'loop']
    assert main(argv) == 0
    assert main(argv) == 0  # again: the two fused bags are not found as new inputs
    assert sorted(read_manifest(source / 'fused')) == ['day', 'night']
    assert not (source / 'fused' / 'fused').exists()


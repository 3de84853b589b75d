# SPDX-License-Identifier: Apache-2.0
"""``bag fuse-many`` on real Ray (a local instance of two CPUs): outputs equal to
single-bag ``bag fuse``, a damaged bag failing alone, a worker killed mid-bag retried and
counted, Ctrl-C on the driver and a re-run that resumes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading

import pytest

ray = pytest.importorskip('ray', reason='Ray is not installed (pip install '
                                        "'fusion_ros[ray]'); CI installs it")

from fusion_ros.bagtools.fleet import WORKER_NICENESS, FleetSettings, fuse_many_ray  # noqa: E402
from fusion_ros.bagtools.fuse import detection_writer, fuse_bag  # noqa: E402
from fusion_ros.bagtools.many import MANIFEST, find_bags, plan_jobs, read_manifest  # noqa: E402
from fusion_ros.cli.main import main  # noqa: E402
from fusion_ros.cli.synth import write_synthetic_bag  # noqa: E402
from fusion_ros.detect import build_detector  # noqa: E402
from fusion_ros.engine import FusionEngine  # noqa: E402
from fusion_ros.io.bag import read_bag  # noqa: E402
from test.bounds import HANG_S, READY_S, wait_until  # noqa: E402

# a model slow enough on one thread (about half a second a pair at 128x160) that a test
# can act while a bag is being fused
SLOW = dict(model='piafusion', backend='torch', precision='fp32', threads=1)


def _messages(bag):
    return [(m.topic, m.time_ns, bytes(m.raw)) for m in read_bag(bag)]


def _leftovers(out):
    """Temporary outputs and attempt markers: none may outlive a finished job."""
    return sorted(p.name for p in out.rglob('.*') if p.name.endswith(('.partial', '.attempts')))


@pytest.fixture(scope='module')
def slow_bags(tmp_path_factory):
    """Four short drives of four pairs each at 128x160."""
    root = tmp_path_factory.mktemp('slow')
    for k in range(4):
        write_synthetic_bag(root / f'drive{k}', seconds=1.0, fps=4, size=(128, 160), seed=k,
                            progress=False)
    return root


def test_ctrl_c_stops_the_job_and_the_rerun_resumes(slow_bags, tmp_path):
    """The driver in its own process (its own local Ray), as a user runs it."""
    out = tmp_path / 'out'
    argv = [sys.executable, '-m', 'fusion_ros', 'bag', 'fuse-many', str(slow_bags),
            '--out', str(out), '--model', 'piafusion', '--backend', 'torch',
            '--precision', 'fp32', '--workers', '2', '--cpus-per-worker', '1']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    env.pop('RAY_ADDRESS', None)
    driver = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    wait_until(lambda: any(e['status'] == 'done' for e in read_manifest(out).values()),
               'a bag to finish', READY_S, alive=lambda: driver.poll() is None)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=HANG_S)
    assert driver.returncode == 130, err
    first = {rel: e for rel, e in read_manifest(out).items() if e['status'] == 'done'}
    assert 1 <= len(first) < 4, first  # stopped mid-way
    mtimes = {rel: os.stat(out / rel / 'metadata.yaml').st_mtime_ns for rel in first}

    again = subprocess.run([*argv, '--json'], env=env, capture_output=True, text=True,
                           timeout=READY_S + HANG_S)
    assert again.returncode == 0, again.stderr
    lines = {e['rel']: e for e in map(json.loads, again.stdout.splitlines()[:4])}
    assert sorted(lines) == [f'drive{k}' for k in range(4)]
    for rel, entry in lines.items():
        assert entry['status'] == ('skipped' if rel in first else 'done'), entry
    assert mtimes == {rel: os.stat(out / rel / 'metadata.yaml').st_mtime_ns for rel in first}
    assert _leftovers(out) == []
    # a bag the Ctrl-C cut short counts that attempt
    cut = [e for e in lines.values() if e['status'] == 'done' and e['attempts'] > 1]
    assert all(e['attempts'] == 2 for e in cut)


@pytest.fixture(scope='module')
def local_ray():
    # workers at normal priority, as fuse-many's own local instance runs them (Ray's nice
    # 15 starves them on a busy machine)
    os.environ[WORKER_NICENESS] = '0'
    ray.init(address='local', num_cpus=2, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    yield
    ray.shutdown()
    del os.environ[WORKER_NICENESS]


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """Six 1 s drives in three folders, one name in two of them, one damaged."""
    root = tmp_path_factory.mktemp('fleet')
    rels = ('car1/night', 'car1/day', 'car2/night', 'car2/broken', 'car3/dusk', 'car3/dawn')
    for k, rel in enumerate(rels):
        write_synthetic_bag(root / rel, seconds=1.0, size=(64, 64), seed=k, progress=False)
    for mcap in (root / 'car2' / 'broken').glob('*.mcap'):
        mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])  # a recorder cut off
    return root


def test_ray_outputs_equal_bag_fuse_and_a_damaged_bag_fails_alone(fleet, local_ray,
                                                                  tmp_path, capsys):
    out = tmp_path / 'out'
    argv = ['bag', 'fuse-many', str(fleet), '--out', str(out), '--model', 'laplacian',
            '--detect', 'hog', '--engine', 'ray', '--json']  # the instance this test started
    assert main(argv) == 1  # one bag failed
    printed = capsys.readouterr()
    assert 'car2/broken' in printed.err
    manifest = read_manifest(out)
    assert len((out / MANIFEST).read_text().splitlines()) == 6
    assert manifest['car2/broken']['status'] == 'failed'
    assert 'damaged' in manifest['car2/broken']['reason']
    assert not (out / 'car2' / 'broken').exists()
    engine = FusionEngine('laplacian', device='cpu')
    detect = detection_writer(build_detector('hog'))
    done = [rel for rel, e in manifest.items() if e['status'] == 'done']
    assert sorted(done) == ['car1/day', 'car1/night', 'car2/night', 'car3/dawn', 'car3/dusk']
    for rel in done:
        entry = manifest[rel]
        assert entry['fused'] == entry['pairs'] > 10 and entry['attempts'] == 1
        assert entry['model'] == 'laplacian' and entry['backend'] == 'torch'
        assert entry['worker'].split(':')[1] != str(os.getpid())  # fused by a Ray worker
        assert {'weights_sha256', 'precision', 'wall_s', 'messages_out'} <= set(entry)
        single = tmp_path / 'single' / rel
        fuse_bag(fleet / rel, single, engine, detect=detect)
        assert _messages(out / rel) == _messages(single)  # message for message
        assert {m[0] for m in _messages(out / rel)} >= {'/detections/json', '/fused/image_raw'}
    assert _leftovers(out) == []


def test_a_worker_killed_mid_bag_is_retried_and_counted(slow_bags, local_ray, tmp_path):
    out = tmp_path / 'out'
    jobs = plan_jobs(find_bags([str(slow_bags / 'drive0'), str(slow_bags / 'drive1')]), out)
    spec = dict(SLOW, device='cpu')
    result: dict = {}
    driver = threading.Thread(target=lambda: result.update(lines=fuse_many_ray(
        jobs, spec, out, FleetSettings(workers=1, retries=2))))
    driver.start()
    victim: dict = {}

    def kill_a_worker_that_started_a_bag() -> bool:
        for marker in out.glob('.*.attempts'):  # written when a worker starts a bag
            started = marker.read_text()
            if started.endswith('\n'):  # not being written
                victim.update(pid=int(started.split(':')[-1]),
                              rel=marker.name[1:-len('.attempts')])
                os.kill(victim['pid'], signal.SIGKILL)
                return True
        return False

    wait_until(kill_a_worker_that_started_a_bag, 'a worker to start a bag', READY_S,
               alive=driver.is_alive)
    driver.join(timeout=READY_S + HANG_S)
    killed, pid = victim['rel'], victim['pid']
    lines = {e['rel']: e for e in result['lines']}
    assert lines[killed]['status'] == 'done' and lines[killed]['attempts'] == 2
    assert not lines[killed]['worker'].endswith(f':{pid}')  # by another worker process
    single = tmp_path / 'single'
    fuse_bag(slow_bags / killed, single, FusionEngine(**spec))
    assert _messages(out / killed) == _messages(single)
    assert [e['status'] for e in lines.values()] == ['done', 'done']
    assert _leftovers(out) == []


def test_engine_ray_without_ray_names_the_package(fleet, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'ray', None)  # import ray raises ImportError
    argv = ['bag', 'fuse-many', str(fleet / 'car1'), '--out', str(tmp_path / 'out'),
            '--model', 'laplacian', '--engine', 'ray']
    assert main(argv) == 2
    assert "pip install 'fusion_ros[ray]'" in capsys.readouterr().err


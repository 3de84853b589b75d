# SPDX-License-Identifier: Apache-2.0
"""Truncated recordings (a recorder that lost power): the readable part is read and
processed, and the damage is reported, never silently."""

import os

import pytest

from fusion_ros.cli.main import main
from fusion_ros.cli.synth import write_synthetic_bag
from fusion_ros.errors import BagError
from fusion_ros.io.bag import bag_topics, read_bag
from fusion_ros.topics import FUSED_TOPIC, RGB_TOPIC, THERMAL_TOPIC


def _truncated(tmp_path, storage, keep=0.6):
    bag = tmp_path / f'rec_{storage}'
    write_synthetic_bag(bag, seconds=2.0, fps=10, size=(160, 128), storage=storage,
                        progress=False)
    full = [(m.topic, m.time_ns, m.raw) for m in read_bag(bag)]
    (data_file,) = [p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3')]
    os.truncate(data_file, int(data_file.stat().st_size * keep))
    return bag, full


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_truncated_bag_yields_its_readable_part_then_a_clear_error(tmp_path, storage):
    bag, full = _truncated(tmp_path, storage)
    got = []
    with pytest.raises(BagError, match=r'damaged .* read the \d+ messages before the damage'):
        for m in read_bag(bag):
            got.append((m.topic, m.time_ns, m.raw))
    assert 0.3 * len(full) <= len(got) < len(full)
    assert set(got) <= set(full)  # byte-identical messages, nothing invented
    assert set(bag_topics(bag)) == {THERMAL_TOPIC, RGB_TOPIC}
    with pytest.raises(BagError):
        list(read_bag(bag, [RGB_TOPIC]))


def test_bag_fuse_processes_the_readable_part_of_a_truncated_bag(tmp_path, capsys):
    bag, full = _truncated(tmp_path, 'mcap')
    out = tmp_path / 'fused'
    rc = main(['bag', 'fuse', str(bag), str(out), '--model', 'max'])
    err = capsys.readouterr().err
    assert rc == 1 and 'damaged' in err and 'what was fused before it' in err
    fused = list(read_bag(out, [FUSED_TOPIC]))  # the output bag is closed and readable
    assert 5 <= len(fused) < len(full) // 2


def test_not_a_bag_is_still_refused(tmp_path):
    (tmp_path / 'x.mcap').write_bytes(b'garbage, not an MCAP file')
    with pytest.raises(BagError):
        list(read_bag(tmp_path / 'x.mcap'))


def test_disk_full_while_writing_is_a_clear_error_and_the_output_stays_readable(tmp_path):
    """A file size limit (RLIMIT_FSIZE) makes writes fail the way a full disk does."""
    import resource
    import signal
    import subprocess
    import sys

    bag = tmp_path / 'rec'
    write_synthetic_bag(bag, seconds=2.0, fps=10, size=(160, 128), progress=False)
    out = tmp_path / 'fused'
    limit = 1_200_000  # the input is ~1.6 MB; the output (copy + fused) ~3.5 MB

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, '-m', 'fusion_ros', 'bag', 'fuse', str(bag),
                           str(out), '--model', 'max'], capture_output=True, text=True,
                          preexec_fn=small_disk, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert 'cannot write' in proc.stderr and 'disk full?' in proc.stderr
    written = []
    with pytest.raises(BagError, match='damaged'):  # cut, but readable up to the cut
        for m in read_bag(out):
            written.append(m)
    assert len(written) > 5 and any(m.topic == FUSED_TOPIC for m in written)


def test_training_uses_the_readable_part_of_a_damaged_bag_with_a_warning(tmp_path):
    from fusion_ros.training.sources import load_sources

    bag, full = _truncated(tmp_path, 'mcap')
    with pytest.warns(UserWarning, match='pairs before the damage'):
        pairs = load_sources([f'bag:{bag}'])
    assert 5 <= len(pairs) < len(full) // 2

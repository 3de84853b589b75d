# SPDX-License-Identifier: Apache-2.0
"""Dataset layouts -> rosbag2: pixels, stamps, names of what is missing, metadata versions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from fusion_ros.bagtools.convert import DEFAULT_START_NS, convert_listing
from fusion_ros.cli.main import main
from fusion_ros.errors import ConfigError
from fusion_ros.io.bag import read_bag
from fusion_ros.io.datasets import list_dataset
from fusion_ros.io.image_files import read_image, read_thermal


def _write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _rng_image(rng, shape, dtype=np.uint8):
    top = 256 if dtype == np.uint8 else 65536
    return rng.integers(0, top, shape, dtype=dtype)


@pytest.fixture
def kaist(tmp_path):
    """set00/V000 (day, frames 0-3), set03/V001 (night, frames 10 and 12; 14 lacks lwir)."""
    rng = np.random.default_rng(0)
    root = tmp_path / 'kaist'
    for video, frames in (('set00/V000', [0, 1, 2, 3]), ('set03/V001', [10, 12])):
        for k in frames:
            _write(root / video / 'visible' / f'I{k:05d}.jpg', _rng_image(rng, (24, 32, 3)))
            _write(root / video / 'lwir' / f'I{k:05d}.jpg', _rng_image(rng, (24, 32, 3)))
    _write(root / 'set03/V001/visible/I00014.jpg', _rng_image(rng, (24, 32, 3)))
    return root


def _images(bag, topic):
    return [(m.header_stamp(), m.image()) for m in read_bag(bag, [topic])]


def test_kaist_layout_keeps_video_timing_and_names_the_missing_file(kaist, tmp_path):
    listing = list_dataset('kaist', kaist)
    assert [p.name for p in listing.pairs][:2] == ['set00/V000/I00000', 'set00/V000/I00001']
    assert [p.is_night for p in listing.pairs] == [False] * 4 + [True] * 2
    assert listing.unmatched == [('set03/V001/I00014.jpg', f'no thermal image in '
                                  f'{kaist / "set03/V001/lwir"}')]
    report = convert_listing(listing, tmp_path / 'k', rate_hz=20.0)
    assert report.pairs == 6 and report.skipped == listing.unmatched
    rgb = _images(tmp_path / 'k', '/rgb/image_raw')
    thermal = _images(tmp_path / 'k', '/thermal/image_raw')
    stamps = [s - DEFAULT_START_NS for s, _ in rgb]
    last_day = 150_000_000
    # 20 Hz within a video; the frame-number gap (10 -> 12) stays; 1 s between videos
    assert stamps == [0, 50_000_000, 100_000_000, last_day, last_day + 1_000_000_000,
                      last_day + 1_100_000_000]
    assert [s for s, _ in thermal] == [s for s, _ in rgb]
    for rec, (_, t), (_, v) in zip(listing.pairs, thermal, rgb):
        np.testing.assert_array_equal(t, read_thermal(rec.thermal))
        np.testing.assert_array_equal(v, read_image(rec.rgb))
    infos = [m.decode() for m in read_bag(tmp_path / 'k', ['/thermal/camera_info'])]
    assert len(infos) == 6 and (infos[0].width, infos[0].height) == (32, 24)
    assert infos[0].header.frame_id == 'thermal_camera'


def test_kaist_split_and_sequence_select_videos(kaist):
    assert {p.sequence for p in list_dataset('kaist', kaist, split='train').pairs} == {
        'set00/V000', 'set03/V001'}
    assert {p.sequence for p in list_dataset('kaist', kaist, sequence='set03').pairs} == {
        'set03/V001'}
    with pytest.raises(ConfigError, match='no KAIST'):
        list_dataset('kaist', kaist / 'set00' / 'V000' / 'visible')


def test_llvip_split_sequence_and_rate(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / 'LLVIP'
    for split, names in (('train', ['010001', '010002']), ('test', ['190001', '190002',
                                                                    '200001'])):
        for n in names:
            _write(root / 'visible' / split / f'{n}.jpg', _rng_image(rng, (20, 16, 3)))
            _write(root / 'infrared' / split / f'{n}.jpg', _rng_image(rng, (20, 16, 3)))
    listing = list_dataset('llvip', root, split='test', sequence='19')
    assert [p.name for p in listing.pairs] == ['test/190001', 'test/190002']
    assert [p.name for p in list_dataset('llvip', root, sequence='*0001').pairs] == [
        'train/010001', 'test/190001', 'test/200001']
    convert_listing(listing, tmp_path / 'b', rate_hz=10.0)
    stamps = [s for s, _ in _images(tmp_path / 'b', '/rgb/image_raw')]
    assert np.diff(stamps).tolist() == [100_000_000]


def test_msrs_day_night_from_suffix_and_missing_folder_error(tmp_path):
    rng = np.random.default_rng(2)
    for name in ('00001D.png', '00002N.png'):
        for sub in ('vi', 'ir'):
            _write(tmp_path / 'msrs' / 'test' / sub / name, _rng_image(rng, (8, 8, 3)))
    listing = list_dataset('msrs', tmp_path / 'msrs')
    assert [(p.name, p.is_night) for p in listing.pairs] == [('test/00001D', False),
                                                            ('test/00002N', True)]
    with pytest.raises(ConfigError, match='needs ir/ and vi/'):
        list_dataset('pairs', tmp_path / 'msrs')


def test_16bit_thermal_round_trips_as_mono16_and_png_compression_is_lossless(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / 'own'
    thermal = _rng_image(rng, (12, 10), np.uint16)
    rgb = _rng_image(rng, (12, 10, 3))
    _write(root / 'ir' / 'a.png', thermal)
    _write(root / 'vi' / 'a.png', rgb)
    listing = list_dataset('pairs', root)
    convert_listing(listing, tmp_path / 'raw')
    msg = next(read_bag(tmp_path / 'raw', ['/thermal/image_raw'])).decode()
    assert msg.encoding == 'mono16'
    np.testing.assert_array_equal(_images(tmp_path / 'raw', '/thermal/image_raw')[0][1],
                                  thermal)
    convert_listing(listing, tmp_path / 'png', compress='png')
    t = _images(tmp_path / 'png', '/thermal/image_raw/compressed')[0][1]
    v = _images(tmp_path / 'png', '/rgb/image_raw/compressed')[0][1]
    np.testing.assert_array_equal(t, thermal)
    np.testing.assert_array_equal(v, rgb[..., ::-1])  # cv2 wrote BGR; the bag holds RGB
    # JPEG is 8-bit: the 16-bit pair is skipped and named, nothing half-written
    report = convert_listing(listing, tmp_path / 'jpg', compress='jpeg')
    assert report.pairs == 0 and 'JPEG is 8-bit' in report.skipped[0][1]
    assert list(read_bag(tmp_path / 'jpg')) == []


def test_jpeg_sources_are_stored_byte_for_byte(kaist, tmp_path):
    listing = list_dataset('kaist', kaist, sequence='set00')
    convert_listing(listing, tmp_path / 'c', compress='jpeg')
    msgs = [m.decode() for m in read_bag(tmp_path / 'c', ['/rgb/image_raw/compressed'])]
    assert bytes(msgs[0].data) == listing.pairs[0].rgb.read_bytes()
    assert msgs[0].format == 'rgb8; jpeg compressed bgr8'


@pytest.mark.parametrize(('flags', 'version', 'storage'), [
    ([], 9, 'mcap'), (['--humble'], 8, 'mcap'), (['--humble', '--storage', 'sqlite3'], 8,
                                                 'sqlite3')])
def test_cli_convert_writes_the_requested_metadata_version(kaist, tmp_path, capsys, flags,
                                                           version, storage):
    out = tmp_path / 'out'
    # a skipped file makes the exit status 1 (as fuse), and the rest is still converted
    assert main(['bag', 'convert', 'kaist', str(kaist), str(out), *flags]) == 1
    text = capsys.readouterr().out
    assert 'wrote 6 pairs' in text and 'skipped set03/V001/I00014.jpg' in text
    meta = yaml.safe_load((out / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['version'] == version and meta['storage_identifier'] == storage
    assert len(list(read_bag(out))) == 24


def test_cli_convert_of_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    assert main(['bag', 'convert', 'llvip', str(tmp_path / 'empty'), str(tmp_path / 'o')]) == 1
    assert 'LLVIP visible folder' in capsys.readouterr().err


def test_convert_with_no_pair_leaves_no_bag_and_an_interrupted_write_none(tmp_path, capsys):
    from fusion_ros.io.bag import BagWriter, bag_in_place

    src = tmp_path / 'pairs'
    (src / 'ir').mkdir(parents=True)
    (src / 'vi').mkdir()
    (src / 'ir' / 'a.png').write_bytes(b'not an image')
    (src / 'vi' / 'a.png').write_bytes(b'not an image')
    out = tmp_path / 'out'
    assert main(['bag', 'convert', 'pairs', str(src), str(out)]) == 1
    assert 'nothing written' in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob('.out*'))  # the re-run is not blocked
    with pytest.raises(KeyboardInterrupt), bag_in_place(out) as tmp:
        with BagWriter(tmp) as bag:
            bag.write_image('/rgb/image_raw', np.zeros((4, 4, 3), np.uint8), 'rgb8', 1, 'rgb')
        raise KeyboardInterrupt  # Ctrl-C after the first messages
    assert not out.exists() and not list(tmp_path.glob('.out*'))

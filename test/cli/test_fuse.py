# SPDX-License-Identifier: Apache-2.0
"""fusion-ros fuse / illumination / bench model."""

import json

import cv2
import numpy as np
import pytest

from fusion_ros.cli.main import main


def write_pair(root, name, size=(40, 48), seed=0):
    rng = np.random.default_rng(seed)
    (root / 'ir').mkdir(parents=True, exist_ok=True)
    (root / 'vi').mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / 'ir' / name), rng.integers(0, 256, size, dtype=np.uint8))
    cv2.imwrite(str(root / 'vi' / name), rng.integers(0, 256, (*size, 3), dtype=np.uint8))


def test_fuse_single_pair_equals_engine(tmp_path):
    from fusion_ros.engine import FusionEngine
    from fusion_ros.io.image_files import read_image, read_thermal

    write_pair(tmp_path, 'a.png')
    out = tmp_path / 'fused.png'
    assert main(['fuse', '--model', 'max', '--ir', str(tmp_path / 'ir' / 'a.png'),
                 '--vi', str(tmp_path / 'vi' / 'a.png'), '--out', str(out)]) == 0
    expected = FusionEngine('max').fuse(read_thermal(tmp_path / 'ir' / 'a.png'),
                                        read_image(tmp_path / 'vi' / 'a.png')).fused
    np.testing.assert_array_equal(read_image(out), expected)


def test_fuse_folders_names_every_failure(tmp_path, capsys):
    for i, name in enumerate(['1.png', '2.png', '3.png']):
        write_pair(tmp_path, name, seed=i)
    (tmp_path / 'vi' / '2.png').unlink()
    cv2.imwrite(str(tmp_path / 'vi' / '3.png'), np.zeros((20, 20, 3), np.uint8))  # wrong size
    out = tmp_path / 'out'
    code = main(['fuse', '--model', 'laplacian', '--ir', str(tmp_path / 'ir'),
                 '--vi', str(tmp_path / 'vi'), '--out', str(out)])
    text = capsys.readouterr().out
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ['1.png']
    assert '2.png: no visible image' in text and '3.png:' in text and 'differ in size' in text
    assert 'fused 1/2 pair(s)' in text


def test_fuse_refuses_untrained_model_and_writes_enhanced(tmp_path, capsys):
    write_pair(tmp_path, 'a.png', size=(16, 24))
    args = ['fuse', '--ir', str(tmp_path / 'ir' / 'a.png'), '--vi', str(tmp_path / 'vi' / 'a.png')]
    assert main([*args, '--model', 'piafusion', '--option', 'flavour=port', '--out',
                 str(tmp_path / 'f.png')]) == 1
    assert 'needs trained weights' in capsys.readouterr().err
    assert main([*args, '--model', 'dfvo', '--option', 'variant=full', '--random-init',
                 '--out', str(tmp_path / 'f.png'), '--enhanced-out', str(tmp_path / 'e.png')]) == 0
    assert cv2.imread(str(tmp_path / 'e.png')).shape == (16, 24, 3)
    # no head: the weight-free gamma lift brightens a dark visible image
    dark = tmp_path / 'dark.png'
    cv2.imwrite(str(dark), np.full((16, 24, 3), 20, np.uint8))
    assert main(['fuse', '--ir', str(tmp_path / 'ir' / 'a.png'), '--vi', str(dark), '--model',
                 'max', '--out', str(tmp_path / 'g.png'),
                 '--enhanced-out', str(tmp_path / 'h.png')]) == 0
    assert cv2.imread(str(tmp_path / 'h.png')).mean() > 60


def test_bench_model_json(capsys):
    assert main(['bench', 'model', '--model', 'average', '--size', '64x48', '--repeat', '3',
                 '--json']) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {'model', 'size', 'device', 'precision', 'precision_requested',
                           'precision_text', 'channels_last', 'compiled', 'compile_error',
                           'ms_median', 'ms_p95', 'peak_mem_mb', 'params', 'backend', 'threads'}
    assert result['backend'] == 'torch'  # auto keeps the classical rules in torch
    assert result['size'] == '64x48' and result['device'] == 'cpu'
    # the default is auto, and the report says what it resolved to (fp32 for a baseline)
    assert result['precision_requested'] == 'auto' and result['precision'] == 'fp32'
    assert result['precision_text'] == 'fp32 (auto)' and not result['compiled']
    assert 0 < result['ms_median'] <= result['ms_p95'] and result['peak_mem_mb'] > 0
    assert main(['bench', 'model', '--model', 'fastfusion', '--size', '64x48', '--repeat', '2',
                 '--model-only']) == 0
    assert 'fastfusion (model only) 64x48' in capsys.readouterr().out


def test_illumination_without_weights_uses_the_shipped_classifier(tmp_path, capsys,
                                                                  monkeypatch):
    bright, dark = tmp_path / 'day.png', tmp_path / 'night.png'
    cv2.imwrite(str(bright), np.full((32, 32, 3), 200, np.uint8))
    cv2.imwrite(str(dark), np.full((32, 32, 3), 10, np.uint8))
    assert main(['illumination', '--json', str(bright), str(dark)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r['image'] for r in rows] == [str(bright), str(dark)]
    assert rows[0]['day'] > 0.5 and rows[1]['night'] > 0.5
    assert rows[0]['raw'] != [rows[0]['day'], rows[0]['night']]  # classifier scores
    # where no classifier is installed: the weight-free luminance estimate
    import fusion_ros.cli.illumination as cli

    monkeypatch.setattr(cli, 'SHIPPED_CLASSIFIER', 'models/not_shipped.pt')
    assert main(['illumination', '--json', str(bright), str(dark)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]['day'] > 0.95 and rows[1]['night'] > 0.95
    assert rows[0]['raw'] == [rows[0]['day'], rows[0]['night']]


@pytest.mark.shared
def test_illumination_json_reproduces_the_released_classifier(shared_dir, capsys):
    ref = shared_dir / 'data' / 'reference' / 'piafusion'
    golden = json.loads((ref / 'classifier_reference.json').read_text())['outputs']
    names = sorted(golden)[:3]
    images = [str(shared_dir / 'data' / 'pairs' / 'msrs' / 'vi' / n) for n in names]
    assert main(['illumination', '--weights',
                 str(ref / 'weights' / 'illumination_classifier_pytorch_port.pth'),
                 '--json', *images]) == 0
    rows = json.loads(capsys.readouterr().out)
    for name, row in zip(names, rows):
        assert set(row) == {'image', 'day', 'night', 'raw'}
        np.testing.assert_allclose(row['raw'], golden[name], atol=1e-3)
        assert row['day'] + row['night'] == pytest.approx(1.0)


def _pair_folders(tmp_path, names):
    import cv2
    import numpy as np

    rng = np.random.default_rng(2)
    for sub, ext in (('ir', '.jpg'), ('vi', '.png')):
        (tmp_path / sub).mkdir()
        for name in names:
            cv2.imwrite(str(tmp_path / sub / f'{name}{ext}'), rng.integers(0, 256, (24, 32, 3),
                                                                           np.uint8))
    return tmp_path / 'ir', tmp_path / 'vi'


def test_folders_pair_by_stem_write_png_and_refuse_to_overwrite(tmp_path, capsys):
    ir, vi = _pair_folders(tmp_path, ['a', 'b'])
    out = tmp_path / 'fused'
    assert main(['fuse', '--model', 'max', '--ir', str(ir), '--vi', str(vi), '--out',
                 str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ['a.png', 'b.png']  # ir/a.jpg + vi/a.png
    capsys.readouterr()
    assert main(['fuse', '--model', 'max', '--ir', str(ir), '--vi', str(vi), '--out',
                 str(out)]) == 1
    assert '--overwrite' in capsys.readouterr().err
    assert main(['fuse', '--model', 'max', '--ir', str(ir), '--vi', str(vi), '--out',
                 str(out), '--overwrite', '--format', 'jpg']) == 0
    assert {p.suffix for p in out.iterdir()} == {'.png', '.jpg'}


def test_ambiguous_stems_are_named(tmp_path, capsys):
    import shutil

    ir, vi = _pair_folders(tmp_path, ['a', 'b'])
    shutil.copy(vi / 'a.png', vi / 'a.bmp')
    assert main(['fuse', '--model', 'max', '--ir', str(ir), '--vi', str(vi), '--out',
                 str(tmp_path / 'f')]) == 1
    out = capsys.readouterr().out
    assert 'ambiguous' in out and 'a.bmp' in out and 'a.png' in out
    assert (tmp_path / 'f' / 'b.png').exists()  # the unambiguous pair is still fused


@pytest.mark.parametrize('case', ['no_extension', 'into_input', 'folder_slash'])
def test_single_pair_outputs_are_checked_before_the_work(tmp_path, capsys, case):
    ir, vi = _pair_folders(tmp_path, ['a'])
    args = ['fuse', '--model', 'max', '--ir', str(ir / 'a.jpg'), '--vi', str(vi / 'a.png')]
    if case == 'no_extension':
        assert main([*args, '--out', str(tmp_path / 'fused')]) == 2  # usage
        err = capsys.readouterr().err
        assert 'no image extension' in err and 'Traceback' not in err
    elif case == 'into_input':
        assert main([*args, '--out', str(vi / 'a.png'), '--overwrite']) == 1
        assert 'input' in capsys.readouterr().err
        assert (vi / 'a.png').stat().st_size > 0  # untouched
    else:
        assert main([*args, '--out', str(tmp_path / 'dir') + '/']) == 0
        assert (tmp_path / 'dir' / 'a.png').is_file()


def test_read_only_output_folder_fails_first_with_the_reason(tmp_path, capsys):
    import os

    if os.geteuid() == 0:
        pytest.skip('root writes into read-only folders')
    ir, vi = _pair_folders(tmp_path, ['a'])
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o500)
    assert main(['fuse', '--model', 'max', '--ir', str(ir), '--vi', str(vi), '--out',
                 str(ro / 'sub')]) == 1
    assert 'permission denied' in capsys.readouterr().err

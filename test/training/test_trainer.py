# SPDX-License-Identifier: Apache-2.0
"""The trainer: run folder contents, exact resume, best.pt for the engine, refusals, CLI,
PIAFusion's two stages and a real 2-process DDP run (torchrun, gloo)."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from fusion_ros.cli.main import main
from fusion_ros.errors import ConfigError, WeightsError
from fusion_ros.models import build_model
from fusion_ros.training.config import load_train_config
from fusion_ros.training.trainer import train


def _config(pair_set, out, **overrides):
    values = {'data': [str(pair_set)], 'out': str(out), 'batch': 2, 'patch': 32,
              'patches_per_image': 4, 'model_options': {'width': 8}, 'val_fraction': 0.25,
              'val_patches': 4, 'device': 'cpu'}
    return load_train_config('fastfusion', **{**values, **overrides})


def _rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def _same_final_weights(a, b):
    """The two run folders' final.pt hold the same weights, bit for bit."""
    wa = torch.load(a / 'final.pt', weights_only=True)['model']
    wb = torch.load(b / 'final.pt', weights_only=True)['model']
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _quiet(**kwargs):
    return {'progress': False, 'log': lambda _: None, **kwargs}


def test_run_folder_and_best_checkpoint_for_the_engine(pair_set, tmp_path):
    out = tmp_path / 'run'
    summary = train(_config(pair_set, out, steps=7), **_quiet())  # 3 pairs x 4 / 2 = 6/epoch
    for name in ('config.yaml', 'last.pt', 'best.pt', 'final.pt', 'log.csv', 'val.csv',
                 'loss.png', 'summary.json'):
        assert (out / name).is_file(), name
    assert summary['steps'] == 7 and summary['epochs'] == 2
    rows = _rows(out / 'log.csv')
    assert [int(r['step']) for r in rows] == list(range(1, 8))
    assert {'step', 'epoch', 'loss', 'intensity', 'texture', 'exposure', 'lr'} <= set(rows[0])
    assert [r['epoch'] for r in rows] == ['1'] * 6 + ['2']
    val = _rows(out / 'val.csv')
    assert [int(r['step']) for r in val] == [6, 7]  # every epoch end and the last step
    assert {'loss', 'EN', 'SD', 'SF', 'Qabf', 'fused_range', 'corr_ir', 'corr_vi'} <= set(val[0])
    assert all(float(r['fused_range']) > 1 / 255 for r in val)  # a live network's spread
    assert all(-1 <= float(r[k]) <= 1 for r in val for k in ('corr_ir', 'corr_vi'))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out))
    events.Reload()
    assert [e.step for e in events.Scalars('train/loss')] == list(range(1, 8))
    assert len(events.Scalars('val/Qabf')) == 2
    # best.pt is what the engine loads with --weights; the step it holds had the best loss
    best = torch.load(out / 'best.pt', weights_only=True)
    assert best['step'] == summary['best_step']
    # val.csv keeps 6 significant digits
    assert best['val']['loss'] == pytest.approx(min(float(r['loss']) for r in val), rel=1e-5)
    model = build_model('fastfusion', weights=out / 'best.pt', width=8)
    assert model.weights_source.endswith('best.pt')
    # the export carries its options: the trained architecture without repeating width=8
    again = build_model('fastfusion', weights=out / 'best.pt')
    assert again.stem.out_channels == 8
    with pytest.raises(WeightsError, match='does not fit'):  # a given option still wins
        build_model('fastfusion', weights=out / 'best.pt', width=16)
    ir, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert model(ir, y).fused.shape == (1, 1, 32, 32)


def test_resume_mid_epoch_equals_an_uninterrupted_run(pair_set, tmp_path):
    full = tmp_path / 'full'
    train(_config(pair_set, full, steps=5), **_quiet())
    part = tmp_path / 'part'
    train(_config(pair_set, part, steps=2), **_quiet())  # stops inside epoch 1
    with pytest.raises(ConfigError, match='--resume'):
        train(_config(pair_set, part, steps=5), **_quiet())
    summary = train(_config(pair_set, part, steps=5), **_quiet(resume=True))
    assert summary['steps_this_run'] == 3
    assert _same_final_weights(full, part)
    assert [r['loss'] for r in _rows(full / 'log.csv')] == [r['loss'] for r in
                                                             _rows(part / 'log.csv')]


def test_persistent_loader_workers_see_each_epoch_and_resume_exactly(pair_set, tmp_path):
    # 6 steps per epoch: the run crosses into epoch 2, whose crops differ from epoch 1's
    # only through the (epoch, index) items the trainer hands the persistent workers
    inline = tmp_path / 'inline'
    train(_config(pair_set, inline, steps=9, workers=0), **_quiet())
    pooled = tmp_path / 'pooled'
    train(_config(pair_set, pooled, steps=4, workers=2), **_quiet())
    train(_config(pair_set, pooled, steps=9, workers=2), **_quiet(resume=True))
    assert _same_final_weights(inline, pooled)
    assert [r['loss'] for r in _rows(inline / 'log.csv')] == [r['loss'] for r in
                                                               _rows(pooled / 'log.csv')]
    with pytest.raises(ConfigError, match='workers'):
        _config(pair_set, tmp_path / 'bad', workers=-2)


def test_a_checkpoint_of_an_unfused_optimizer_resumes_with_the_fused_one(pair_set, tmp_path):
    """Runs checkpointed before Adam was fused carry fused=False in their param groups."""
    full = tmp_path / 'full'
    train(_config(pair_set, full, steps=4), **_quiet())
    part = tmp_path / 'part'
    train(_config(pair_set, part, steps=2), **_quiet())
    ckpt = torch.load(part / 'last.pt', weights_only=True)
    for group in ckpt['optimizer']['param_groups']:
        group['fused'], group['foreach'] = None, None  # what torch wrote for those runs
    torch.save(ckpt, part / 'last.pt')
    train(_config(pair_set, part, steps=4), **_quiet(resume=True))
    a = torch.load(full / 'final.pt', weights_only=True)['model']
    b = torch.load(part / 'final.pt', weights_only=True)['model']
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_ema_validates_and_exports_the_average_of_the_steps_weights(pair_set, tmp_path):
    from fusion_ros.training.distributed import setup_distributed
    from fusion_ros.training.run import TrainingRun

    start = TrainingRun(_config(pair_set, tmp_path / 'unused', ema=0.9),
                        setup_distributed('cpu')).objective.model.state_dict()
    live = []  # the weights after steps 1..4: runs of 1..4 steps walk the same path
    for k in range(1, 5):
        train(_config(pair_set, tmp_path / f'k{k}', steps=k, ema=0.9), **_quiet())
        live.append(torch.load(tmp_path / f'k{k}' / 'last.pt', weights_only=True)['model'])
    expected = {k: v.clone() for k, v in start.items()}
    for n, weights in enumerate(live, 1):
        d = min(0.9, (1 + n) / (10 + n))  # the decay held low over the first steps
        for k in expected:
            expected[k] = d * expected[k] + (1 - d) * weights[k]
    final = torch.load(tmp_path / 'k4' / 'final.pt', weights_only=True)['model']
    assert all(torch.allclose(final[k], expected[k], atol=1e-6) for k in final)
    assert not all(torch.allclose(final[k], live[-1][k], atol=1e-4) for k in final)
    # the average changes nothing of the training itself
    train(_config(pair_set, tmp_path / 'plain', steps=4), **_quiet())
    plain = torch.load(tmp_path / 'plain' / 'final.pt', weights_only=True)['model']
    assert all(torch.equal(plain[k], live[-1][k]) for k in plain)
    # validation scored the averaged weights, so its numbers differ from the plain run's
    averaged_val = _rows(tmp_path / 'k4' / 'val.csv')[-1]
    assert averaged_val['loss'] != _rows(tmp_path / 'plain' / 'val.csv')[-1]['loss']
    best = torch.load(tmp_path / 'k4' / 'best.pt', weights_only=True)
    assert best['val']['loss'] == pytest.approx(min(
        float(r['loss']) for r in _rows(tmp_path / 'k4' / 'val.csv')), rel=1e-5)


def test_ema_resumes_exactly_and_refuses_a_run_without_it(pair_set, tmp_path):
    for steps in (2, 5):  # stopped inside epoch 1, then resumed; against one whole run
        train(_config(pair_set, tmp_path / 'part', steps=steps, ema=0.8),
              **_quiet(resume=steps == 5))
    train(_config(pair_set, tmp_path / 'full', steps=5, ema=0.8), **_quiet())
    assert _same_final_weights(tmp_path / 'full', tmp_path / 'part')
    plain = tmp_path / 'plain'
    train(_config(pair_set, plain, steps=2), **_quiet())
    with pytest.raises(ConfigError, match='without ema'):
        train(_config(pair_set, plain, steps=5, ema=0.8), **_quiet(resume=True))
    with pytest.raises(ConfigError, match='ema must be'):
        _config(pair_set, tmp_path / 'bad', ema=1.0)


def test_save_every_checkpoints_between_epochs(pair_set, tmp_path):
    out = tmp_path / 'run'
    train(_config(pair_set, out, steps=3, save_every=2), **_quiet())
    ckpt = torch.load(out / 'last.pt', weights_only=True)
    assert ckpt['step'] == 3 and set(ckpt['rng']) >= {'torch', 'python'}
    assert not list(out.glob('.*.tmp'))  # atomic writes leave no temporary file


def test_init_starts_from_given_weights_and_a_resume_keeps_its_own(pair_set, tmp_path):
    first = tmp_path / 'first'
    train(_config(pair_set, first, steps=2), **_quiet())
    start = torch.load(first / 'final.pt', weights_only=True)['model']
    second = tmp_path / 'second'
    # lr so small the weights after one step are still the init's to 1e-6
    train(_config(pair_set, second, steps=1, lr=1e-9, init=str(first / 'final.pt')), **_quiet())
    after = torch.load(second / 'final.pt', weights_only=True)['model']
    assert max(float((after[k].float() - start[k].float()).abs().max()) for k in start) < 1e-6
    fresh = torch.load(_fresh_final(pair_set, tmp_path), weights_only=True)['model']
    assert max(float((fresh[k].float() - start[k].float()).abs().max()) for k in start) > 1e-3
    # a training checkpoint (last.pt) works as init too; a resumed run ignores init
    train(_config(pair_set, tmp_path / 'third', steps=1, init=str(first / 'last.pt')),
          **_quiet())
    train(_config(pair_set, second, steps=2, lr=1e-9, init=str(tmp_path / 'missing.pt')),
          **_quiet(resume=True))
    with pytest.raises(ConfigError, match='do not fit fastfusion'):
        train(_config(pair_set, tmp_path / 'wide', steps=1, model_options={'width': 16},
                      init=str(first / 'final.pt')), **_quiet())


def test_train_only_retrains_the_day_head_and_nothing_else(pair_set, tmp_path):
    first = tmp_path / 'first'
    train(_config(pair_set, first, steps=2), **_quiet())
    start = torch.load(first / 'final.pt', weights_only=True)['model']
    lines = []
    head = tmp_path / 'head'
    train(_config(pair_set, head, steps=6, lr=0.05, train_only=['day'], night_augment=0.5,
                  init=str(first / 'final.pt')), progress=False, log=lines.append)
    after = torch.load(head / 'final.pt', weights_only=True)['model']
    moved = {k for k in start if not torch.equal(after[k], start[k])}
    assert moved == {'day.weight', 'day.bias'}  # every other tensor bit for bit the init's
    assert any("training only ['day']: 9 of" in line for line in lines), lines  # width 8 + 1
    with pytest.raises(ConfigError, match=r"train_only \['dya'\] names no parameter"):
        train(_config(pair_set, tmp_path / 'typo', steps=1, train_only=['dya']), **_quiet())
    with pytest.raises(ConfigError, match='night_augment'):
        _config(pair_set, tmp_path / 'bad', night_augment=2.0)


def test_a_zoomed_run_trains_and_records_its_zoom(pair_set, tmp_path):
    run = tmp_path / 'zoom'
    train(_config(pair_set, run, steps=2, zoom=0.5, zoom_spread=2.0), **_quiet())
    saved = yaml.safe_load((run / 'config.yaml').read_text())
    assert (saved['zoom'], saved['zoom_spread']) == (0.5, 2.0)
    assert (run / 'final.pt').is_file()
    with pytest.raises(ConfigError, match='zoom'):
        _config(pair_set, tmp_path / 'bad', zoom=0.5, zoom_spread=0.5)


def _fresh_final(pair_set, tmp_path):
    out = tmp_path / 'fresh'
    train(_config(pair_set, out, steps=1, lr=1e-9), **_quiet())
    return out / 'final.pt'


def test_a_step_with_non_finite_gradients_is_skipped_not_applied(pair_set, tmp_path,
                                                                   monkeypatch):
    """A reduced-precision kernel can return NaN gradients with a finite loss (oneDNN's
    bf16 dilated conv did): one applied update makes every weight NaN and the run dies
    later with an unrelated error. The step is skipped, logged and counted instead."""
    from fusion_ros.training import trainer as trainer_module

    real = trainer_module.TrainingRun.non_finite_gradients
    poisoned_steps = {3}

    def poison(run):
        if run.step + 1 in poisoned_steps:
            p = next(p for p in run.objective.parameters() if p.requires_grad)
            p.grad[...] = float('nan')
        return real(run)

    monkeypatch.setattr(trainer_module.TrainingRun, 'non_finite_gradients', poison)
    lines = []
    out = tmp_path / 'run'
    summary = train(_config(pair_set, out, steps=6), progress=False, log=lines.append)
    assert summary['steps'] == 6 and summary['skipped_steps'] == 1
    assert any('step 3: non-finite gradients' in line for line in lines)
    weights = torch.load(out / 'final.pt', weights_only=True)['model']
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert torch.load(out / 'last.pt', weights_only=True)['skipped'] == 1
    # skipped on the device: the weights, Adam's moments and its step count are those of a
    # run that never took step 3 (its batch is still consumed)
    poisoned_steps.clear()
    train(_config(pair_set, tmp_path / 'two', steps=2), **_quiet())
    before = torch.load(tmp_path / 'two' / 'last.pt', weights_only=True)
    poisoned_steps.add(3)
    train(_config(pair_set, tmp_path / 'three', steps=3), **_quiet())
    after = torch.load(tmp_path / 'three' / 'last.pt', weights_only=True)
    assert all(torch.equal(before['model'][k], after['model'][k]) for k in before['model'])
    for key, state in before['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(value, after['optimizer']['state'][key][name]), name
    poisoned_steps.update(range(1, 100))  # always: the run gives up with a clear error
    monkeypatch.setattr(trainer_module, 'MAX_SKIPPED', 2)
    with pytest.raises(FloatingPointError, match='non-finite gradients in 3 steps'):
        train(_config(pair_set, tmp_path / 'nan', steps=6), **_quiet())


def test_a_non_finite_loss_stops_the_run_naming_its_step(pair_set, tmp_path, monkeypatch):
    from fusion_ros.training.objectives import FastFusionObjective

    real, calls = FastFusionObjective.forward, []

    def poison(objective, *inputs):
        terms = real(objective, *inputs)
        calls.append(1)
        if len(calls) == 2:
            terms['total'] = terms['total'] * float('nan')
        return terms

    monkeypatch.setattr(FastFusionObjective, 'forward', poison)
    with pytest.raises(FloatingPointError, match='loss became nan at step 2; lower --lr'):
        train(_config(pair_set, tmp_path / 'run', steps=5), **_quiet())
    assert len(calls) == 3  # found when step 3 is queued, before any checkpoint


def test_a_run_whose_fused_image_went_flat_stops_with_a_clear_error(pair_set, tmp_path,
                                                                   capsys):
    """PIAFusion's tanh head pushed far negative outputs 0 everywhere and passes no
    gradient back (a leave-one-out fold died so in its first 16 steps and trained on for
    hours): the run stops at its second flat validation, not at its last step."""
    from fusion_ros.errors import TrainingError
    from fusion_ros.models.piafusion import PIAFusion

    dead = PIAFusion(flavour='tf')
    with torch.no_grad():
        dead.decoder.conv5.bias.fill_(-1e4)
    torch.save({'model': dead.state_dict()}, tmp_path / 'dead.pt')
    out = tmp_path / 'run'
    config = load_train_config(
        'piafusion', data=[str(pair_set)], out=str(out), batch=2, patch=16,
        patches_per_image=4, val_fraction=0.25, val_patches=4, device='cpu', steps=30,
        settings={'variant': 'tf', 'illumination': 'labels'}, init=str(tmp_path / 'dead.pt'))
    with pytest.raises(TrainingError, match=r'at steps 6, 12: the output head has saturated'):
        train(config, **_quiet())
    val = _rows(out / 'val.csv')
    assert [(r['step'], float(r['fused_range'])) for r in val] == [('6', 0.0), ('12', 0.0)]
    assert torch.load(out / 'last.pt', weights_only=True)['step'] == 12  # resumable
    # the CLI says so in one line, exit 1
    (tmp_path / 'labels.yaml').write_text('settings: {variant: tf, illumination: labels}\n')
    rc = main(['train', 'piafusion', '--data', str(pair_set), '--steps', '30', '--batch', '2',
               '--patch', '16', '--out', str(tmp_path / 'cli'), '--no-progress', '--device',
               'cpu', '--init', str(tmp_path / 'dead.pt'), '--config',
               str(tmp_path / 'labels.yaml')])
    assert rc == 1
    assert 'error: the fused image is one flat value' in capsys.readouterr().err


def test_a_run_whose_fused_image_stopped_changing_stops_with_a_clear_error(pair_set,
                                                                          tmp_path):
    """FastFusion's base and gain maps saturated (sigmoids at exactly 1: no gradient) leave
    the fused image fixed while the light curve and day head still learn (a leave-LLVIP-out
    run so froze in its first epoch and trained on for 30): the run stops at the third
    validation with the same fused image, in the first half of the run only; a train_only
    run keeps its fused image by design and trains to the end."""
    from fusion_ros.errors import TrainingError
    from fusion_ros.models.fastfusion import FastFusion

    stuck = FastFusion(width=8)
    with torch.no_grad():
        stuck.maps.weight[:2].zero_()
        stuck.maps.bias[:2].fill_(1e4)
    torch.save({'model': stuck.state_dict()}, tmp_path / 'stuck.pt')
    out = tmp_path / 'run'
    with pytest.raises(TrainingError, match=r'validations at steps 6, 12, 18 .*map_range'):
        train(_config(pair_set, out, steps=40, init=str(tmp_path / 'stuck.pt')), **_quiet())
    val = _rows(out / 'val.csv')
    assert len({(r['EN'], r['SD'], r['SF']) for r in val}) == 1  # the fused image kept
    assert len({r['exposure'] for r in val}) > 1  # while the light curve learned
    # the same weights in a 12-step run: only its validation at step 6 lies in the first
    # half, so the run ends normally
    summary = train(_config(pair_set, tmp_path / 'late', steps=12,
                            init=str(tmp_path / 'stuck.pt')), **_quiet())
    assert summary['steps'] == 12
    summary = train(_config(pair_set, tmp_path / 'head', steps=40, train_only=['day'],
                            init=str(tmp_path / 'stuck.pt')), **_quiet())
    assert summary['steps'] == 40
    # a live network is not stopped
    assert train(_config(pair_set, tmp_path / 'live', steps=40), **_quiet())['steps'] == 40


def test_refusals(pair_set, tmp_path):
    with pytest.raises(ConfigError, match='no batch'):
        train(_config(pair_set, tmp_path / 'a', batch=64), **_quiet())
    with pytest.raises(ConfigError, match='multiples of 4'):
        train(load_train_config('dfvo', data=[str(pair_set)], out=str(tmp_path / 'b'),
                                patch=30), **_quiet())
    with pytest.raises(ConfigError, match='unknown setting'):
        load_train_config('fastfusion', colour='red')
    with pytest.raises(ConfigError, match='no training config'):
        load_train_config('max')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('epochs: 0\n')
    with pytest.raises(ConfigError, match='epochs must be >= 1'):
        load_train_config('fastfusion', bad)
    torn = tmp_path / 'torn'
    torn.mkdir()
    (torn / 'last.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(ConfigError, match='cannot resume'):
        train(_config(pair_set, torn, steps=1), **_quiet(resume=True))


def test_cli_trains_and_names_bad_data(pair_set, tmp_path, capsys):
    rc = main(['train', 'didfuse', '--data', f'pairs:{pair_set}', '--steps', '2', '--batch',
               '2', '--patch', '24', '--out', str(tmp_path / 'd'), '--no-progress',
               '--device', 'cpu'])
    assert rc == 0
    assert 'didfuse' in capsys.readouterr().out
    assert build_model('didfuse', weights=tmp_path / 'd' / 'best.pt') is not None
    rc = main(['train', 'didfuse', '--data', f'{pair_set},every=zero', '--out',
               str(tmp_path / 'e')])
    assert rc == 1 and 'every=zero' in capsys.readouterr().err


def test_piafusion_trains_both_stages_and_resume_skips_the_first(pair_set, tmp_path, capsys):
    out = tmp_path / 'pia'
    args = ['train', 'piafusion', '--data', str(pair_set), '--steps', '2', '--batch', '2',
            '--patch', '16', '--out', str(out), '--no-progress', '--device', 'cpu']
    assert main(args) == 0
    assert (out / 'classifier' / 'best.pt').is_file() and (out / 'best.pt').is_file()
    settings = yaml.safe_load((out / 'config.yaml').read_text())['settings']
    assert settings['classifier'] == str(out / 'classifier' / 'best.pt')
    model = build_model('piafusion', weights=out / 'best.pt')
    from fusion_ros.models.piafusion import load_illumination_classifier

    stage1 = load_illumination_classifier(out / 'classifier' / 'best.pt')
    assert stage1.head == 'abs'  # the trainable head (config/train/piafusion-classifier.yaml)
    # the fusion file carries the frozen classifier: one file gives fusion and P(day)
    assert model.classifier is not None and model.classifier.head == 'abs'
    for key, value in stage1.state_dict().items():
        assert torch.equal(model.classifier.state_dict()[key], value), key
    rgb = torch.rand(1, 3, 32, 32)
    assert 0.0 <= float(model.illumination(rgb)[0]) <= 1.0
    bundled = load_illumination_classifier(out / 'best.pt')  # what `illumination` reads
    assert torch.equal(bundled(rgb), stage1(rgb))
    capsys.readouterr()
    assert main([*args[:5], '4', *args[6:], '--resume']) == 0
    assert 'stage 1 (piafusion-classifier) already done' in capsys.readouterr().out
    # the exported file (fusion net + classifier, as models/piafusion.pt) is a valid --init
    # and --classifier for a fine-tuning run: it starts from the fusion net's weights
    tuned = tmp_path / 'tuned'
    assert main(['train', 'piafusion', '--data', str(pair_set), '--steps', '1', '--batch',
                 '2', '--patch', '16', '--lr', '1e-12', '--out', str(tuned), '--no-progress',
                 '--device', 'cpu', '--init', str(out / 'best.pt'), '--classifier',
                 str(out / 'best.pt')]) == 0
    start = torch.load(out / 'best.pt', weights_only=True)['model']
    after = torch.load(tuned / 'final.pt', weights_only=True)['model']
    assert set(after) == set(start)  # the classifier rides along again
    assert max(float((after[k].float() - start[k].float()).abs().max()) for k in start) < 1e-6


def test_ddp_two_processes_end_with_identical_weights(pair_set, tmp_path):
    out = tmp_path / 'ddp'
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
           '2', '-m', 'fusion_ros.train', 'didfuse', '--data', str(pair_set), '--steps', '3',
           '--batch', '2', '--patch', '24', '--out', str(out), '--no-progress', '--device',
           'cpu']
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['ddp'] == {'world_size': 2, 'backend': 'gloo', 'max_weight_difference': 0.0}
    assert summary['steps'] == 3
    rows = _rows(out / 'log.csv')
    assert [int(r['step']) for r in rows] == [1, 2, 3]  # rank 0 logs, once per step
    assert build_model('didfuse', weights=out / 'best.pt') is not None


def test_a_validation_that_copies_or_inverts_one_source_is_warned_about(pair_set, tmp_path,
                                                                         monkeypatch):
    from fusion_ros.training import trainer

    # what two PIAFusion folds with edge 80 learnt (models/piafusion.md, session 38), and what
    # the shipped files score (never above 0.96)
    assert 'a copy of the thermal image' in trainer.copy_warning({'corr_ir': 0.997,
                                                                   'corr_vi': -0.07})
    assert 'thermal image inverted' in trainer.copy_warning({'corr_ir': -0.989, 'corr_vi': 0.13})
    assert 'visible' in trainer.copy_warning({'corr_ir': 0.2, 'corr_vi': 0.99})
    assert trainer.copy_warning({'corr_ir': 0.958, 'corr_vi': 0.399}) is None
    assert trainer.copy_warning({'loss': 1.0}) is None  # no fused image, no correlations
    # a run's validation hands its row to the check and logs the warning, with its step
    lines = []
    monkeypatch.setattr(trainer, 'COPY_CORRELATION', -1.0)  # every fused image "copies"
    train(_config(pair_set, tmp_path / 'run', steps=6), progress=False, log=lines.append)
    assert [line for line in lines if line.startswith('warning (step 6): the fused image')]

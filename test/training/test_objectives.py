# SPDX-License-Identifier: Apache-2.0
"""Every trainable model: a few optimiser steps on real-looking patches lower its loss."""

import pytest
import torch

from fusion_ros.errors import ConfigError
from fusion_ros.training.config import load_train_config
from fusion_ros.training.data import PairCache, PatchDataset
from fusion_ros.training.objectives import build_objective
from fusion_ros.training.sources import load_sources


def _batch(pair_set, patch=32, n=4):
    ds = PatchDataset(PairCache(load_sources([str(pair_set)])), patch=patch, seed=0)
    items = [ds[i * len(ds) // n] for i in range(n)]  # spread over the pairs
    return (torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items]),
            torch.tensor([i[2] for i in items]))


def _objective(name, **settings):
    cfg = load_train_config(name)
    torch.manual_seed(0)
    return build_objective(name, cfg.model_options, cfg.loss, {**cfg.settings, **settings})


def _loss_drop(objective, batch, steps, lr):
    objective.train()
    opt = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=lr)
    first = None
    for _ in range(steps):
        total = objective(*batch)['total']
        first = float(total.detach()) if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    with torch.no_grad():
        return first, float(objective(*batch)['total'])


@pytest.mark.parametrize(('name', 'steps', 'lr', 'settings'), [
    ('fastfusion', 8, 1e-2, {}),
    ('didfuse', 6, 1e-3, {}),
    ('piafusion', 6, 1e-3, {'illumination': 'labels'}),
    ('piafusion-classifier', 8, 1e-3, {}),
    ('dfvo', 4, 1e-4, {}),
])
def test_a_few_steps_lower_the_loss(pair_set, name, steps, lr, settings):
    objective = _objective(name, **settings)
    objective.epoch = 1  # DFVO: fusion terms switched on (0.1 x epoch)
    first, last = _loss_drop(objective, _batch(pair_set), steps, lr)
    assert last < first, f'{name}: {first} -> {last}'


def test_piafusion_fusion_stage_uses_the_frozen_classifier(pair_set, tmp_path):
    from fusion_ros.models.piafusion import IlluminationClassifier

    with pytest.raises(ConfigError, match='stage-1 classifier'):
        _objective('piafusion')
    torch.manual_seed(1)
    path = tmp_path / 'cls.pt'
    torch.save(IlluminationClassifier().state_dict(), path)
    objective = _objective('piafusion', classifier=str(path))
    before = {k: v.clone() for k, v in objective.classifier.state_dict().items()}
    _loss_drop(objective, _batch(pair_set), 2, 1e-3)
    assert not objective.classifier.training
    assert all(torch.equal(before[k], v) for k, v in objective.classifier.state_dict().items())
    # the export is the fusion net plus the frozen classifier under classifier.*
    assert set(objective.export()) == set(objective.model.state_dict()) | {
        f'classifier.{k}' for k in objective.classifier.state_dict()}
    assert objective.export_meta() == {'classifier_options': {'head': 'relu'}}


def test_classifier_learns_day_from_night(pair_set):
    objective = _objective('piafusion-classifier')
    ir, rgb, day = _batch(pair_set, n=8)
    assert set(day.tolist()) == {0.0, 1.0}
    _loss_drop(objective, (ir, rgb, day), 30, 1e-3)
    with torch.no_grad():
        assert objective(ir, rgb, day)['accuracy'] == 1.0


def test_dfvo_perceptual_term_trains_the_enhancement_head(pair_set, tmp_path):
    from fusion_ros.training.perceptual import ResNet18Features

    torch.manual_seed(0)
    path = tmp_path / 'r18.pt'
    state = ResNet18Features().state_dict()
    state['fc.weight'] = torch.zeros(1000, 512)  # a torchvision file also has the classifier
    torch.save(state, path)
    objective = _objective('dfvo', perceptual_weights=str(path))
    terms = objective(*_batch(pair_set, n=2))
    terms['perceptual'].backward()
    en_grad = objective.model.EnDecode1.Conv.weight.grad
    assert en_grad is not None and en_grad.abs().sum() > 0  # unlike the authors' no_grad
    assert all(p.grad is None for p in objective.perceptual.parameters())  # frozen
    objective.train()
    assert not objective.perceptual.training
    assert 'perceptual' not in _objective('dfvo')(*_batch(pair_set, n=1))


def test_dfvo_fusion_weight_follows_the_epoch(pair_set):
    objective = _objective('dfvo')
    batch = _batch(pair_set, n=1)
    objective.epoch = 0
    assert float(objective(*batch)['fusion_scale']) == 0.0
    objective.epoch = 7
    assert abs(float(objective(*batch)['fusion_scale']) - 0.7) < 1e-6


def test_dfvo_fusion_start_offsets_the_ramp(pair_set):
    objective = _objective('dfvo', fusion_start=5.0, fusion_per_epoch=0.0)
    objective.epoch = 3
    assert float(objective(*_batch(pair_set, n=1))['fusion_scale']) == 5.0


def test_dfvo_histeq_target_trains_the_enhancement_head_towards_equalised_light(pair_set):
    from fusion_ros.training.losses import histogram_target_loss

    objective = _objective('dfvo', enhance_target='histeq')
    terms = objective(*_batch(pair_set, n=2))
    assert 'enhance' in terms and 'enhance' not in _objective('dfvo')(*_batch(pair_set, n=1))
    objective.zero_grad()
    terms['enhance'].backward()
    assert objective.model.EnDecode1.Conv.weight.grad.abs().sum() > 0
    assert objective.model.FuDecode1.Conv.weight.grad is None  # only the enhancement path
    # the loss: 0 for the equalised image itself, large for a flat image; blind to noise
    # finer than the 2x2 blocks it compares
    y = torch.linspace(0.1, 0.3, 64 * 64).reshape(1, 1, 64, 64)  # dark, narrow histogram
    from fusion_ros.training.losses import histogram_equalise

    target = histogram_equalise(y)
    assert float(histogram_target_loss(target, y)) < 1e-6
    assert float(histogram_target_loss(torch.full_like(y, 0.5), y)) > 0.2
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None]) % 2 * 0.2 - 0.1
    assert float(histogram_target_loss(target + checker, y)) < 1e-6


def test_dfvo_enhance_noise_weight_adds_a_term_that_trains_only_the_enhancement_head(pair_set):
    from fusion_ros.training.losses import noise_excess_loss

    batch = _batch(pair_set, n=2)
    without = _objective('dfvo', enhance_target='histeq')
    assert 'enhance_noise' not in without(*batch)
    objective = _objective('dfvo', enhance_target='histeq')
    objective.w['enhance_noise'] = 1000.0
    terms = objective(*batch)
    assert float(terms['enhance_noise'].detach()) > 0  # an untrained head: noisier than the input
    # the total is the one without the term plus the weighted term (same weights, same seed)
    assert torch.isclose(terms['total'], without(*batch)['total'] + 1000 * terms['enhance_noise'],
                         rtol=1e-4)
    objective.zero_grad()
    terms['enhance_noise'].backward()
    assert objective.model.EnDecode1.Conv.weight.grad.abs().sum() > 0
    assert objective.model.FuDecode1.Conv.weight.grad is None
    ir, rgb, _ = batch
    out, _ = objective.model.forward_all(ir, objective.luminance(rgb))
    assert torch.isclose(terms['enhance_noise'],
                         noise_excess_loss(out.enhanced, objective.luminance(rgb)), rtol=1e-3)


def test_dfvo_gamma_enhance_target_is_the_gamma_lifted_visible(pair_set):
    from fusion_ros.training.losses import gamma_target_loss

    batch = _batch(pair_set, n=2)
    objective = _objective('dfvo', enhance_target='gamma')
    terms = objective(*batch)
    ir, rgb, _ = batch
    out, _ = objective.model.forward_all(ir, objective.luminance(rgb))
    y = objective.luminance(rgb)
    assert torch.isclose(terms['enhance'], gamma_target_loss(out.enhanced, y), rtol=1e-3)
    histeq = _objective('dfvo', enhance_target='histeq')(*batch)['enhance']
    assert not torch.isclose(terms['enhance'], histeq, rtol=1e-2)


def test_dfvo_fusion_targets_can_be_the_inputs(pair_set, monkeypatch):
    from fusion_ros.training import losses

    seen = []
    real = losses.dfvo_fusion_losses

    def capture(fused, fused_rgb, vi_target, ir_target, enhanced_rgb, enhanced):
        seen.append((vi_target, ir_target, enhanced))
        return real(fused, fused_rgb, vi_target, ir_target, enhanced_rgb, enhanced)

    monkeypatch.setattr(losses, 'dfvo_fusion_losses', capture)
    ir, rgb, day = _batch(pair_set, n=1)
    _objective('dfvo')(ir, rgb, day)
    _objective('dfvo', fusion_targets='sources')(ir, rgb, day)
    (own_vi, own_ir, _), (vi_t, ir_t, en_t) = seen
    y = _objective('dfvo').luminance(rgb)
    assert torch.allclose(vi_t, y) and torch.equal(ir_t, ir) and torch.allclose(en_t, y)
    assert not torch.allclose(own_ir, ir)  # by default: the network's reconstruction
    # equalised: the inputs, the visible one equalised (brighter and wider than a dark Y)
    _objective('dfvo', fusion_targets='equalised')(ir, rgb * 0.2, day)
    eq_vi, eq_ir, eq_en = seen[-1]
    dark = _objective('dfvo').luminance(rgb * 0.2)
    assert torch.equal(eq_ir, ir) and torch.equal(eq_en, eq_vi)
    assert float(eq_vi.mean()) > float(dark.mean()) + 0.2
    assert float(eq_vi.std()) > float(dark.std())
    with pytest.raises(ConfigError, match='fusion_targets'):
        _objective('dfvo', fusion_targets='equalized')  # a typo is refused, not ignored
    with pytest.raises(ConfigError, match='fusion_terms'):
        _objective('dfvo', fusion_terms='l1')


def test_dfvo_max_fusion_terms_replace_the_mse_terms_in_the_total(pair_set):
    from fusion_ros.training.losses import max_fusion_losses

    batch = _batch(pair_set, n=2)
    default = _objective('dfvo', fusion_start=2.0, fusion_per_epoch=0.0)
    objective = _objective('dfvo', fusion_start=2.0, fusion_per_epoch=0.0, fusion_terms='max')
    terms = objective(*batch)
    assert 'max_texture' in terms and 'max_texture' not in default(*batch)
    w = objective.w
    rest = (w['ir_rec'] * terms['ir_rec'] + w['retinex'] * terms['retinex']
            + w['il_mg'] * terms['il_mg'] + w['il_smooth'] * terms['il_smooth'])
    fusion = (w['max_intensity'] * terms['max_intensity'] + w['max_texture']
              * terms['max_texture'] + w['colour'] * terms['colour'])
    assert torch.allclose(terms['total'], rest + 2.0 * fusion, rtol=1e-5)
    # the terms: an image with both sources' edges costs less than either source alone
    a = torch.zeros(1, 1, 16, 16)
    b = torch.zeros(1, 1, 16, 16)
    a[..., :, 8:] = 1.0
    b[..., 8:, :] = 0.5
    both = max_fusion_losses(torch.maximum(a, b), a, b)
    assert float(both['max_intensity']) == 0.0
    for single in (a, b):
        alone = max_fusion_losses(single, a, b)
        assert float(alone['max_intensity']) > 0.05
        assert float(alone['max_texture']) > 1.5 * float(both['max_texture'])


def test_day_labels_of_unlabelled_patches_come_from_a_given_classifier(pair_set, tmp_path):
    from fusion_ros.models.piafusion import IlluminationClassifier

    classifier = IlluminationClassifier()
    with torch.no_grad():  # a classifier that calls everything night: scores [0, 1]
        for p in classifier.parameters():
            p.zero_()
        classifier.linear2.bias.copy_(torch.tensor([0.0, 1.0]))
    path = tmp_path / 'night.pt'
    torch.save(classifier.state_dict(), path)
    objective = _objective('fastfusion', day_classifier=str(path))
    ir, rgb, _ = _batch(pair_set, n=2)
    unknown = torch.tensor([float('nan'), 1.0])
    assert objective.day_weights(rgb, unknown).tolist() == [0.0, 1.0]  # the label wins
    bright = torch.ones(2, 3, 32, 32)
    assert _objective('fastfusion').day_weights(bright, unknown)[0] > 0.99  # luminance
    assert objective.day_weights(bright, unknown)[0] == 0.0  # the classifier


def test_fastfusion_edge_weight_adds_the_soft_qabf_term(pair_set):
    from fusion_ros.training.losses import edge_preservation

    batch = _batch(pair_set)
    cfg = load_train_config('fastfusion')
    assert cfg.loss['edge'] == 20.0  # the shipped recipe (models/fastfusion.md)
    without = {k: v for k, v in cfg.loss.items() if k != 'edge'}
    torch.manual_seed(0)
    plain = build_objective('fastfusion', cfg.model_options, without, cfg.settings).eval()
    torch.manual_seed(0)
    edged = build_objective('fastfusion', cfg.model_options, {**without, 'edge': 5.0},
                            cfg.settings).eval()
    with torch.no_grad():
        base, extra = plain(*batch), edged(*batch)
        fused = edged.fused(batch[0], batch[1])
        y = edged.luminance(batch[1])
        expected = 1 - edge_preservation(fused, batch[0], y).mean()
    assert 'edge' not in base  # weight 0 or absent: no term at all
    assert torch.allclose(extra['edge'], expected)
    assert torch.allclose(extra['total'], base['total'] + 5.0 * expected, atol=1e-5)


def test_fastfusion_edge_night_weighs_each_samples_edge_term_by_its_day_probability(pair_set):
    from fusion_ros.training.losses import edge_preservation

    ir, rgb, _ = _batch(pair_set)
    day = torch.tensor([1.0, 0.0, 1.0, 0.0])  # labelled day, night, day, night
    cfg = load_train_config('fastfusion')
    without = {k: v for k, v in cfg.loss.items() if k != 'edge'}
    built = []
    for weights in (without, {**without, 'edge': 5.0, 'edge_night': 1.0}):
        torch.manual_seed(0)
        built.append(build_objective('fastfusion', cfg.model_options, weights,
                                     cfg.settings).eval())
    plain, gated = built
    with torch.no_grad():
        base, extra = plain(ir, rgb, day), gated(ir, rgb, day)
        per_sample = 1 - edge_preservation(gated.fused(ir, rgb), ir, gated.luminance(rgb))
    assert not torch.allclose(per_sample[0::2].mean(), per_sample[1::2].mean())
    assert torch.allclose(extra['edge'], per_sample.mean())  # recorded unweighted
    weights = torch.tensor([5.0, 1.0, 5.0, 1.0])
    assert torch.allclose(extra['total'], base['total'] + (weights * per_sample).mean(),
                          atol=1e-5)
    # an objective with no day probability refuses it rather than ignoring it
    cfg = load_train_config('dfvo')
    dfvo = build_objective('dfvo', cfg.model_options, {**cfg.loss, 'edge': 5.0,
                                                       'edge_night': 1.0},
                           {'fusion_start': 2.0, 'fusion_per_epoch': 0.0}).eval()
    with torch.no_grad(), pytest.raises(ConfigError, match='edge_night'):
        dfvo(ir[:2], rgb[:2], day[:2])


@pytest.mark.parametrize('name', ['fastfusion', 'piafusion'])
def test_vif_weight_adds_the_differentiable_vif_term(pair_set, name):
    from fusion_ros.training.losses import vif_loss

    batch = _batch(pair_set, patch=64, n=2)
    cfg = load_train_config(name)
    settings = {**cfg.settings, 'illumination': 'labels'} if name == 'piafusion' \
        else cfg.settings
    assert not cfg.loss.get('vif')  # not in a recipe yet
    torch.manual_seed(0)
    plain = build_objective(name, cfg.model_options, cfg.loss, settings).eval()
    torch.manual_seed(0)
    with_vif = build_objective(name, cfg.model_options, {**cfg.loss, 'vif': 3.0},
                               settings).eval()
    with torch.no_grad():
        base, extra = plain(*batch), with_vif(*batch)
        fused = with_vif.fused(batch[0], batch[1])
        expected = vif_loss(fused, batch[0], with_vif.luminance(batch[1]))
    assert 'vif' not in base
    assert torch.allclose(extra['vif'], expected)
    assert torch.allclose(extra['total'], base['total'] + 3.0 * expected, atol=1e-5)


def test_fastfusion_map_range_revives_saturated_maps(pair_set):
    """A map pushed far past its sigmoid's working range (a stalled run: offset +47, gain
    -32) gets no gradient from the fusion loss; with ``map_range`` its logits are pulled
    back, and inside the range the term is exactly 0."""
    batch = _batch(pair_set, patch=32, n=2)
    cfg = load_train_config('fastfusion')
    grads = {}
    for weight in (0.0, 0.1):
        torch.manual_seed(0)
        objective = build_objective('fastfusion', cfg.model_options,
                                    {**cfg.loss, 'map_range': weight}, cfg.settings).train()
        maps = objective.model.maps
        terms = objective(*batch)
        assert ('map_range' in terms) == bool(weight)
        if weight:
            assert float(terms['map_range']) == 0.0  # a fresh model's maps are in range
        with torch.no_grad():
            maps.bias.copy_(torch.tensor([47.0, -32.0, 0.0]))
        objective.zero_grad()
        objective(*batch)['total'].backward()
        grads[weight] = maps.bias.grad[:2].abs()
    assert torch.all(grads[0.0] < 1e-6)  # dead: the stall
    assert torch.all(grads[0.1] > 1.0)  # pulled back towards the range
    objective.eval()  # validation: no logits, so no term, and no error
    assert objective.model(batch[0], batch[1][:, :1]).logits is None
    assert 'map_range' not in objective(*batch)


def test_dfvo_edge_weight_adds_soft_qabf_against_the_raw_inputs_inside_the_fusion_scale(
        pair_set):

    batch = _batch(pair_set, n=2)
    cfg = load_train_config('dfvo')
    settings = {'fusion_start': 2.0, 'fusion_per_epoch': 0.0, 'fusion_terms': 'max'}
    _assert_edge_term_adds('dfvo', cfg.model_options, cfg.loss, {**cfg.loss, 'edge': 10.0},
                           settings, batch, 2.0 * 10.0)


def _assert_edge_term_adds(name, options, without, with_edge, settings, batch, scale):
    """The objective with an edge weight = the one without + scale x (1 - soft Qabf of its
    fused image against the raw inputs)."""
    from fusion_ros.training.losses import edge_preservation

    torch.manual_seed(0)
    plain = build_objective(name, options, without, settings).eval()
    torch.manual_seed(0)
    edged = build_objective(name, options, with_edge, settings).eval()
    with torch.no_grad():
        base, extra = plain(*batch), edged(*batch)
        fused = edged.fused(batch[0], batch[1])
        expected = 1 - edge_preservation(fused, batch[0], edged.luminance(batch[1])).mean()
    assert 'edge' not in base
    assert torch.allclose(extra['edge'], expected, atol=1e-6)
    assert torch.allclose(extra['total'], base['total'] + scale * expected, rtol=1e-5)


def test_dfvo_tf_fusion_terms_are_piafusions_tensorflow_loss_inside_the_fusion_scale(pair_set):
    from fusion_ros.training.losses import piafusion_loss

    batch = _batch(pair_set, n=2)
    settings = dict(fusion_start=2.0, fusion_per_epoch=0.0, fusion_targets='sources')
    default = _objective('dfvo', **settings)
    objective = _objective('dfvo', **settings, fusion_terms='tf')
    with torch.no_grad():
        terms = objective.eval()(*batch)
        fused = objective.fused(batch[0], batch[1])
        y = objective.luminance(batch[1])
        expected = piafusion_loss(fused, batch[0], y, objective.day_weights(batch[1], batch[2]),
                                  'tf')
    assert 'intensity' in terms and 'intensity' not in default(*batch)
    assert torch.allclose(terms['intensity'], expected['intensity'], atol=1e-6)
    w = objective.w
    rest = (w['ir_rec'] * terms['ir_rec'] + w['retinex'] * terms['retinex']
            + w['il_mg'] * terms['il_mg'] + w['il_smooth'] * terms['il_smooth'])
    fusion = expected['total'] + w['colour'] * terms['colour']
    assert torch.allclose(terms['total'], rest + 2.0 * fusion, rtol=1e-5)


def test_piafusion_edge_weight_adds_the_soft_qabf_term(pair_set, tmp_path):
    from fusion_ros.models.piafusion import IlluminationClassifier

    path = tmp_path / 'classifier.pt'
    torch.save(IlluminationClassifier().state_dict(), path)
    batch = _batch(pair_set, n=2)
    cfg = load_train_config('piafusion', 'config/train/piafusion-cpu-edge.yaml')
    assert cfg.loss['edge'] == 20.0 and cfg.settings['variant'] == 'tf'
    settings = {**cfg.settings, 'classifier': str(path)}
    without = {k: v for k, v in cfg.loss.items() if k != 'edge'}
    _assert_edge_term_adds('piafusion', cfg.model_options, without, cfg.loss, settings, batch,
                           20.0)


def test_frozen_batchnorm_trains_on_fixed_statistics_so_training_matches_inference(pair_set):
    batch = _batch(pair_set, n=2)
    objective = _objective('dfvo', batchnorm='frozen').train()
    bn = objective.model.FuDecode1.Bn
    before = bn.running_mean.clone()
    assert not bn.training and bn.weight.requires_grad  # fixed statistics, learnable affine
    with torch.no_grad():
        trained = objective.fused(batch[0], batch[1])
        assert torch.equal(bn.running_mean, before)  # a forward leaves the statistics alone
        assert torch.allclose(trained, objective.eval().fused(batch[0], batch[1]))
    default = _objective('dfvo').train()
    assert default.model.FuDecode1.Bn.training  # batch statistics unless asked
    with pytest.raises(ConfigError, match='batchnorm'):
        _objective('dfvo', batchnorm='fixed')


def test_each_objective_is_registered_under_its_model_and_names_its_first_stage():
    from fusion_ros.models import list_models
    from fusion_ros.training.objectives import OBJECTIVES, objective_class, register_objective

    trainable = {'fastfusion', 'piafusion', 'didfuse', 'dfvo'}
    assert trainable <= set(OBJECTIVES) <= trainable | {'piafusion-classifier'}
    assert trainable <= set(list_models())
    # PIAFusion's recipe trains its classifier first unless one is given or not wanted
    pia = objective_class('piafusion')
    assert pia.first_stage({}) == ('piafusion-classifier', 'classifier')
    assert pia.first_stage({'classifier': 'c.pt'}) is None
    assert pia.first_stage({'illumination': 'labels'}) is None
    assert all(objective_class(n).first_stage({}) is None for n in trainable - {'piafusion'})
    with pytest.raises(ValueError, match='twice'):
        register_objective('dfvo')(OBJECTIVES['dfvo'])


def test_dfvo_teacher_pull_is_the_l1_to_the_teachers_fused_image_annealed_to_its_floor(
        pair_set):
    from fusion_ros.models import build_model

    batch = _batch(pair_set, n=2)
    cfg = load_train_config('dfvo')
    settings = {'fusion_start': 2.0, 'fusion_per_epoch': 0.0}
    torch.manual_seed(0)
    plain = build_objective('dfvo', cfg.model_options, cfg.loss, settings).eval()
    torch.manual_seed(0)
    pulled = build_objective('dfvo', cfg.model_options, {**cfg.loss, 'teacher': 8.0},
                             {**settings, 'teacher': 'laplacian', 'teacher_floor': 0.5}).eval()
    ir, y = batch[0], pulled.luminance(batch[1])
    with torch.no_grad():
        target = build_model('laplacian')(ir, y).fused.clamp(0, 1)
        expected = (pulled.fused(batch[0], batch[1]) - target).abs().mean()
        base = plain(*batch)
        start = pulled(*batch)
        pulled.progress = 1.0
        end = pulled(*batch)
    assert 'teacher' not in base
    assert torch.allclose(start['teacher'], expected, atol=1e-6)
    # inside the fusion scale (2), full weight at the start, the floor's share at the end
    assert torch.allclose(start['total'], base['total'] + 2 * 8.0 * expected, rtol=1e-5)
    assert torch.allclose(end['total'], base['total'] + 2 * 4.0 * expected, rtol=1e-5)
    assert float(end['teacher_scale']) == 0.5


def test_a_teacher_needs_a_model_and_a_weight():
    cfg = load_train_config('dfvo')
    with pytest.raises(ConfigError, match='teacher'):
        build_objective('dfvo', cfg.model_options, cfg.loss, {'teacher': 'laplacian'})
    with pytest.raises(ConfigError, match='teacher'):
        build_objective('dfvo', cfg.model_options, {**cfg.loss, 'teacher': 1.0}, {})


def test_swapped_sources_exchange_whole_samples_and_turn_their_day_weight():
    from fusion_ros.training.objectives.piafusion import swapped_sources

    torch.manual_seed(3)
    ir, y = torch.rand(64, 1, 8, 8), torch.rand(64, 1, 8, 8)
    p_day = torch.rand(64)
    a, b, p = swapped_sources(ir, y, p_day, 0.5)
    flipped = torch.tensor([torch.equal(a[i], y[i]) for i in range(64)])
    kept = torch.tensor([torch.equal(a[i], ir[i]) for i in range(64)])
    assert torch.all(flipped ^ kept) and 16 < int(flipped.sum()) < 48
    assert torch.equal(b[flipped], ir[flipped]) and torch.equal(b[kept], y[kept])
    assert torch.allclose(p[flipped], 1 - p_day[flipped]) and torch.equal(p[kept], p_day[kept])
    a, b, p = swapped_sources(ir, y, p_day, 1.0)
    assert torch.equal(a, y) and torch.equal(b, ir) and torch.allclose(p, 1 - p_day)


@pytest.mark.parametrize('variant', ['tf', 'paper'])
def test_the_piafusion_loss_and_edge_term_are_the_same_with_the_sources_and_weights_swapped(
        variant):
    from fusion_ros.training import losses as L

    torch.manual_seed(4)
    fused, ir, y = (torch.rand(3, 1, 24, 24) for _ in range(3))
    p_day = torch.tensor([0.1, 0.5, 0.9])
    straight = L.piafusion_loss(fused, ir, y, p_day, variant)
    swapped = L.piafusion_loss(fused, y, ir, 1 - p_day, variant)
    for term in ('total', 'intensity', 'max', 'texture'):
        assert torch.allclose(straight[term], swapped[term], atol=1e-6), term
    assert torch.allclose(L.edge_loss_per_sample(fused, ir, y),
                          L.edge_loss_per_sample(fused, y, ir), atol=1e-6)


def test_piafusion_swap_sources_feeds_each_branch_the_other_image_in_training_only(pair_set):
    ir, rgb, day = _batch(pair_set, n=4)
    with pytest.raises(ConfigError, match='swap_sources'):
        _objective('piafusion', illumination='labels', swap_sources=1.5)
    objective = _objective('piafusion', illumination='labels', swap_sources=1.0)
    seen = []
    forward = objective.model.forward

    def recording(thermal, visible_y):
        seen.append((thermal.clone(), visible_y.clone()))
        return forward(thermal, visible_y)

    objective.model.forward = recording
    y = objective.luminance(rgb)
    objective.train()
    objective(ir, rgb, day)
    assert torch.equal(seen[-1][0], y) and torch.equal(seen[-1][1], ir)
    objective.eval()
    with torch.no_grad():
        objective(ir, rgb, day)
    assert torch.equal(seen[-1][0], ir) and torch.equal(seen[-1][1], y)
    # edge_night weighs by the scene's P(day), not the exchanged loss weight: all swapped,
    # a day-labelled batch with edge_night 0 keeps its whole edge term
    day_batch = torch.ones_like(day)
    weights = {**load_train_config('piafusion').loss, 'edge': 20.0, 'edge_night': 0.0}
    torch.manual_seed(0)
    swapping = build_objective('piafusion', {}, weights, {'illumination': 'labels',
                                                         'swap_sources': 1.0}).train()
    terms = swapping(ir, rgb, day_batch)
    no_night = {k: v for k, v in weights.items() if k != 'edge_night'}
    torch.manual_seed(0)
    plain_edge = build_objective('piafusion', {}, no_night, {'illumination': 'labels',
                                                            'swap_sources': 1.0}).train()
    assert torch.allclose(terms['total'], plain_edge(ir, rgb, day_batch)['total'])
    # off (the default), training draws nothing from the run's generator
    plain = _objective('piafusion', illumination='labels').train()
    state = torch.get_rng_state()
    plain(ir, rgb, day)
    assert torch.equal(torch.get_rng_state(), state)

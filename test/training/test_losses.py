# SPDX-License-Identifier: Apache-2.0
"""Training losses."""

import torch

from fusion_ros.training.losses import exposure_loss, piafusion_loss, sobel_gradient


def test_sobel_gradient_of_a_ramp():
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]  # +1 per column
    g = sobel_gradient(ramp)
    assert torch.allclose(g[..., 1:-1, 1:-1], torch.full((1, 1, 6, 6), 8.0))


def test_piafusion_loss_weights_follow_illumination():
    ir, y = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
    day, night = torch.ones(2), torch.zeros(2)
    # by day the intensity term pulls F to the visible image, by night to the thermal one
    assert piafusion_loss(y, ir, y, day)['intensity'] == 0
    assert piafusion_loss(ir, ir, y, night)['intensity'] == 0
    assert piafusion_loss(ir, ir, y, day)['intensity'] == 1
    losses = piafusion_loss(y, ir, y, day)
    assert losses['max'] == 0 and losses['texture'] == 0 and losses['total'] == 0
    tf = piafusion_loss(y, ir, y, day, variant='tf')
    assert tf['intensity'] == 0  # 0.7 * max + 0.3 * (1 * y) = 1 = F


def test_exposure_loss_zero_at_level():
    assert exposure_loss(torch.full((1, 1, 32, 32), 0.55)) < 1e-10
    assert exposure_loss(torch.zeros(1, 1, 32, 32)) > 0.3


# -- SSIM, DIDFuse, DFVO ----------------------------------------------------------------------
def test_ssim_matches_the_matlab_metric_and_is_one_for_identical_images():
    import numpy as np

    from fusion_ros.metrics.fusion_metrics import _ssim
    from fusion_ros.training.losses import ssim, ssim_loss

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 50)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
    ta, tb = (torch.from_numpy(x / 255.0).float()[None, None] for x in (a, b))
    assert abs(float(ssim(ta, tb, padding='valid')) - _ssim(a, b)) < 1e-5
    assert abs(float(ssim(ta, ta)) - 1.0) < 1e-6 and float(ssim_loss(ta, ta)) < 1e-6
    noisier = torch.from_numpy(np.clip(a + rng.normal(0, 90, a.shape), 0, 255) / 255.0)
    assert 0 < float(ssim(ta, noisier.float()[None, None])) < float(ssim(ta, tb)) < 0.99
    assert abs(float(ssim(ta, tb)) - float(ssim(tb, ta))) < 1e-6


def test_didfuse_loss_terms():
    from fusion_ros.training.losses import didfuse_loss

    w = {'reconstruction': 2.0, 'ssim': 5.0, 'mse': 1.0, 'base': 1.0, 'detail': 0.5,
         'gradient': 10.0}
    v, i = torch.rand(2, 1, 24, 24), torch.rand(2, 1, 24, 24)
    base, detail = torch.rand(2, 4, 24, 24), torch.rand(2, 4, 24, 24)
    perfect = didfuse_loss(v, v, i, i, base, base, detail, detail + 1, w)
    assert perfect['mse_v'] == 0 and perfect['gradient'] == 0 and perfect['base'] == 0
    # different details lower the loss: the decomposition pushes them apart
    assert torch.isclose(perfect['total'], -0.5 * torch.tanh(torch.tensor(1.0)), atol=1e-5)
    worse = didfuse_loss(v, 1 - v, i, i, base, base, detail, detail + 1, w)
    assert worse['total'] > perfect['total'] and worse['ssim_v'] > 0.1


def test_guided_filter_and_dark_channel():
    from fusion_ros.ops.filters import guided_filter
    from fusion_ros.training.losses import dark_channel

    flat = torch.full((1, 1, 20, 20), 0.3)
    assert torch.allclose(guided_filter(flat, flat, radius=3), flat, atol=1e-6)
    rgb = torch.ones(1, 3, 20, 20)
    rgb[0, 1, 10, 10] = 0.0  # one dark pixel darkens a 10x10 neighbourhood
    dc = dark_channel(rgb)
    assert dc[0, 0, 10, 10] == 0 and dc[0, 0, 6, 6] == 0 and dc[0, 0, 0, 0] == 1
    edge = torch.zeros(1, 1, 20, 20)
    edge[..., 10:] = 1.0  # the guided filter keeps a strong edge of its guide
    out = guided_filter(edge, edge, radius=4, eps=1e-4)
    assert out[0, 0, 0, 2] < 0.05 and out[0, 0, 0, 17] > 0.95


def test_overexposure_correction_takes_ir_at_glare():
    from fusion_ros.training.losses import overexposure_corrected

    en = torch.full((1, 1, 256, 256), 0.03)
    en[..., 100:140, 100:140] = 1.0  # glare in a dark scene (wider than the 10x10 erosion)
    ir = torch.full_like(en, 0.4)
    out = overexposure_corrected(en, en.expand(1, 3, 256, 256), ir)
    assert out[0, 0, 120, 120] == 0.4 and out[0, 0, 5, 5] == 0.03
    small = torch.full_like(en, 0.03)
    small[..., 40:46, 40:46] = 1.0  # a few bright pixels are eroded away: no correction
    assert torch.equal(overexposure_corrected(small, small.expand(1, 3, 256, 256), ir), small)


def test_histogram_equalise_spreads_a_narrow_histogram():
    from fusion_ros.training.losses import histogram_equalise

    narrow = 0.4 + 0.1 * torch.rand(1, 3, 32, 32)
    out = histogram_equalise(narrow)
    assert out.min() == 0 and out.max() == 1
    assert torch.equal(out.argsort(-1), out.argsort(-1))  # order is kept (monotone map)
    flat_rank = narrow[0, 0].flatten().argsort()
    assert bool((out[0, 0].flatten()[flat_rank].diff() >= 0).all())


def test_edge_preservation_follows_the_qabf_metric_on_published_outputs(shared_dir):
    """A differential test against our Qabf (itself checked against the golden values):
    the soft version the loss trains on scores the nine methods' tno42 outputs close to the
    metric and in nearly the same order."""
    import cv2
    import numpy as np

    from fusion_ros.metrics.fusion_metrics import qabf
    from fusion_ros.training.losses import edge_preservation

    root = shared_dir / 'data' / 'benchmarks' / 'tno42'
    exact, soft = [], []
    for method in sorted(p.name for p in (root / 'methods').iterdir()):
        for name in ('01.png', '15.png', '30.png'):
            a, b = (cv2.imread(str(root / side / name), 0) for side in ('ir', 'vi'))
            f = cv2.imread(str(root / 'methods' / method / name), 0)
            if f is None or f.shape != a.shape:
                continue
            unit = [torch.from_numpy(x).float()[None, None] / 255 for x in (f, a, b)]
            exact.append(qabf(a, b, f, 'tang'))
            soft.append(float(edge_preservation(*unit)[0]))
    exact, soft = np.array(exact), np.array(soft)
    assert len(exact) >= 20
    assert 0.0 <= (soft - exact).mean() < 0.05 and np.abs(soft - exact).max() < 0.08
    assert np.corrcoef(exact, soft)[0, 1] > 0.97


def test_edge_preservation_rewards_kept_edges_and_has_finite_gradients():
    from fusion_ros.training.losses import edge_preservation

    torch.manual_seed(0)
    x = torch.linspace(0, 1, 64)
    a = (x[None, :] > 0.5).float().expand(64, 64)[None, None].contiguous()  # a vertical edge
    b = (x[:, None] > 0.3).float().expand(64, 64)[None, None].contiguous() * 0.3  # weaker
    both = (a + b) / 1.3  # every edge of both sources, at their strengths
    scores = {name: float(edge_preservation(f, a, b)[0]) for name, f in
              {'both': both, 'a only': a, 'flat': torch.full_like(a, 0.5),
               'blurred': torch.nn.functional.avg_pool2d(both, 3, 1, 1)}.items()}
    # the weaker source's edge counts: keeping only the stronger one loses its share
    assert scores['both'] > 0.9 and scores['both'] > scores['a only'] + 0.1
    assert scores['a only'] > scores['blurred'] > scores['flat'] and scores['flat'] < 0.05
    # near-flat (exactly flat is a stationary point: no gradient direction to prefer)
    fused = (0.5 + 0.01 * torch.randn_like(a)).requires_grad_()
    (1 - edge_preservation(fused, a, b).mean()).backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0
    # a source all but flat (a ramp of 1e-15) under a faint fused ramp, as on LLVIP crops
    # with a clipped fused patch: the angle's dot product (1e-22) squares to 0 in fp32, and
    # atan2's backward divided by it (NaN in every weight's gradient, nearly every step of
    # one training run skipped)
    ramp = x[None, :].expand(64, 64)[None, None]
    fused = (1e-5 * ramp).requires_grad_()
    (1 - edge_preservation(fused, 1e-15 * ramp, b).mean()).backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0


def test_laplacian_is_opencvs_and_noise_excess_allows_light_but_not_amplified_detail():
    import cv2
    import numpy as np

    from fusion_ros.training.losses import laplacian, noise_excess_loss

    rng = np.random.default_rng(0)
    image = rng.random((24, 32), dtype=np.float32)
    ours = laplacian(torch.from_numpy(image)[None, None])[0, 0].numpy()
    assert np.allclose(ours, cv2.Laplacian(image, cv2.CV_32F, borderType=cv2.BORDER_REPLICATE),
                       atol=1e-5)
    dark = torch.from_numpy(image)[None, None] * 0.1  # a dark frame with fine noise
    assert float(noise_excess_loss(dark + 0.5, dark)) < 1e-7  # brighter, same detail: free
    assert float(noise_excess_loss(torch.full_like(dark, 0.5), dark)) == 0  # smoothed: free
    assert float(noise_excess_loss(dark * 4, dark)) > 0.05  # gain amplifies the noise: paid


def test_gamma_lift_brings_dark_images_to_the_level_keeps_order_and_leaves_bright_ones():
    from fusion_ros.training.losses import gamma_lifted, gamma_target_loss

    ramp = torch.linspace(0.01, 0.2, 64).reshape(1, 1, 8, 8)  # a dark frame
    bright = torch.linspace(0.3, 0.9, 64).reshape(1, 1, 8, 8)  # mean 0.6: already lit
    lifted = gamma_lifted(torch.cat([ramp, bright]), level=0.45)
    assert 0.35 < float(lifted[0].mean()) < 0.55  # one gamma: the mean moves to ~the level
    flat = lifted[0].flatten()
    assert bool((flat[1:] > flat[:-1]).all())  # monotone: the structure stays, none flattened
    assert torch.allclose(lifted[1], bright)  # never darkened
    # the target is not trained through: only the enhanced image gets a gradient
    y = ramp.clone().requires_grad_()
    enhanced = torch.full_like(ramp, 0.5, requires_grad=True)
    gamma_target_loss(enhanced, y).backward()
    assert y.grad is None and enhanced.grad.abs().sum() > 0


def test_enhancement_target_is_brighter_than_a_noisy_night_frame_and_no_noisier():
    from fusion_ros.training.losses import gamma_target_loss, laplacian, lifted_denoised

    torch.manual_seed(0)
    scene = torch.zeros(1, 1, 64, 64)
    scene[..., 16:48, 16:48] = 0.15  # a dim object on a dark background
    night = (scene + 0.05 + 0.01 * torch.randn_like(scene)).clamp(0, 1)
    target = lifted_denoised(night)
    assert float(target.mean()) > 3 * float(night.mean())
    flat = (slice(None), slice(None), slice(2, 12), slice(2, 62))  # background only: noise
    assert float(laplacian(target)[flat].abs().median()) < float(
        laplacian(night)[flat].abs().median())
    inside, outside = target[..., 20:44, 20:44].mean(), target[..., :12, :].mean()
    assert float(inside - outside) > 0.15  # the object's edge survives the smoothing
    assert float(gamma_target_loss(target, night)) < 1e-6


def test_self_guided_filter_is_the_guided_filter_of_an_image_by_itself():
    from fusion_ros.ops.filters import box_blur, guided_filter, self_guided_filter

    y = torch.rand(2, 1, 33, 40, generator=torch.Generator().manual_seed(0)) * 0.3
    ref = guided_filter(y, y, radius=2, eps=1e-4)
    torch.testing.assert_close(self_guided_filter(y, 2, 1e-4), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(self_guided_filter(y, 2, 1e-4, mean=box_blur(y, 2)), ref,
                               atol=1e-5, rtol=0)
    half = self_guided_filter(y.half(), 2, 1e-4)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), ref, atol=2e-3, rtol=0)


def _smooth_noise(seed, size=96):
    import numpy as np

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (size // 8, size // 8)).astype(np.float32)
    import cv2

    base = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + rng.normal(0, 12, (size, size)), 0, 255).round().astype(np.uint8)


def test_visual_fidelity_is_the_vif_metric_in_floating_point():
    """A differential test against fusion_ros.metrics' VIF (``standard`` convention, itself
    checked against the golden values) on fusions of every kind, from a copy of one source
    to an inverted one."""
    import numpy as np

    from fusion_ros.metrics.fusion_metrics import vif
    from fusion_ros.training.losses import visual_fidelity

    a, b = _smooth_noise(1), _smooth_noise(2)
    fusions = {'max': np.maximum(a, b), 'a': a, 'mean': ((a.astype(int) + b) // 2),
               'inverted': 255 - a, 'contrast x1.5': np.clip(1.5 * (a.astype(float) - 128)
                                                            + 128, 0, 255).round()}
    unit = lambda x: torch.from_numpy(np.asarray(x, np.float32) / 255)[None, None]  # noqa: E731
    for name, f in fusions.items():
        f = np.asarray(f, np.uint8)
        expected = vif(a, b, f, 'standard')
        got = float(visual_fidelity(unit(f), unit(a), unit(b))[0])
        assert abs(got - expected) < 1e-4, (name, got, expected)
    batch = visual_fidelity(*(torch.cat([unit(x), unit(x)]) for x in (fusions['max'], a, b)))
    assert batch.shape == (2,) and torch.allclose(batch[0], batch[1])


def test_vif_loss_rises_towards_the_sources_and_has_finite_gradients():
    from fusion_ros.training.losses import vif_loss

    a, b = (torch.from_numpy(_smooth_noise(s)).float()[None, None] / 255 for s in (3, 4))
    fused = torch.full_like(a, 0.5).add_(0.01 * torch.randn_like(a)).requires_grad_()
    opt = torch.optim.Adam([fused], lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = vif_loss(fused, a, b)
        loss.backward()
        assert torch.isfinite(fused.grad).all()
        opt.step()
        losses.append(float(loss.detach()))
    # a near-flat image carries nothing of either source; descending the loss gives it both
    assert losses[0] > 0.9 and losses[-1] < losses[0] - 0.3
    assert float(vif_loss(a, a, b)) < 0.5  # a copy keeps all of a: VIFp(a, a) = 1


def test_logit_range_loss_is_zero_inside_and_pulls_back_from_outside():
    from fusion_ros.training.losses import logit_range_loss

    inside = torch.tensor([-7.9, 0.0, 7.9])
    assert float(logit_range_loss(inside)) == 0.0
    far = torch.tensor([47.0, -32.0], requires_grad=True)
    loss = logit_range_loss(far)
    assert torch.isclose(loss, torch.tensor((39.0 ** 2 + 24.0 ** 2) / 2))
    loss.backward()
    assert far.grad[0] > 0 and far.grad[1] < 0  # descent moves both back towards 0
    assert float(logit_range_loss(torch.tensor([5.0]), limit=4.0)) == 1.0

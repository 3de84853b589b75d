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

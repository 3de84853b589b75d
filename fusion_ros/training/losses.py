# SPDX-License-Identifier: Apache-2.0
"""Training losses of every model: PIAFusion's illumination-aware fusion loss, DIDFuse's
decomposition loss (with our own SSIM), DFVO's multi-task loss, and the light-curve losses.

PIAFusion (paper Eq. 8-12), with W_vi = P_day and W_ir = P_night from an illumination
estimate of the visible image:

    3 * (W_ir * L1(F, IR) + W_vi * L1(F, Y)) + 7 * L1(F, max(IR, Y))
    + 50 * L1(|grad F|, max(|grad IR|, |grad Y|)),   grad = |Sobel_x| + |Sobel_y|

``variant='tf'`` is the TensorFlow code's form instead:
50 * L1(F, 0.7 max(IR, Y) + 0.3 (W_vi Y + W_ir IR)) + 50 * texture.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from fusion_ros.ops.filters import box_blur, guided_filter, self_guided_filter

__all__ = ['dark_channel', 'didfuse_loss', 'edge_loss', 'edge_loss_per_sample',
           'edge_preservation', 'equalised_luminance', 'exposure_loss', 'in_fp32',
           'logit_range_loss',
           'histogram_equalise', 'histogram_target_loss', 'max_fusion_losses',
           'overexposure_corrected',
           'piafusion_loss', 'sobel_gradient', 'smoothness_loss', 'spatial_gradient', 'ssim',
           'ssim_loss', 'vif_loss', 'visual_fidelity']

_F = TypeVar('_F', bound=Callable[..., Any])


def _fp32(value: Any) -> Any:
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() \
        else value


def in_fp32(fn: _F) -> _F:
    """Compute a loss in fp32 whatever autocast surrounds it: autocast off, floating-point
    tensor arguments cast to fp32. bf16's 8-bit mantissa cancels SSIM's local variances
    (E[x²] - E[x]²: SSIM came out above 1 and DIDFuse diverged) and moves every other term
    in coarse steps (the edge term in steps of ~1e-3)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), 'cpu')
        off = (torch.autocast(device, enabled=False) if torch.amp.is_autocast_available(device)
               else contextlib.nullcontext())  # the meta device has no autocast
        with off:
            return fn(*(_fp32(a) for a in args), **{k: _fp32(v) for k, v in kwargs.items()})

    return wrapper  # type: ignore[return-value]


_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_gradient(x: torch.Tensor) -> torch.Tensor:
    """|Sobel_x| + |Sobel_y| of :math:`(B, 1, H, W)`, zero padding (as both codes)."""
    kernel = torch.stack((_SOBEL_X, _SOBEL_X.t()))[:, None].to(x)
    g = F.conv2d(x, kernel, padding=1)
    return g.abs().sum(1, keepdim=True)


# Xydeas & Petrovic's constants, as fusion_ros.metrics (Qabf)
_QABF_STRENGTH = (0.9994, -15.0, 0.5)
_QABF_ORIENTATION = (0.9879, -22.0, 0.8)


@in_fp32
def edge_preservation(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                      eps: float = 1e-3) -> torch.Tensor:
    """A differentiable Qabf (Xydeas & Petrovic), per image :math:`(B,)`.

    The max-gradient texture term asks for the stronger source's gradient *magnitude*
    only; Qabf rewards every source edge the fused image keeps (strength within a factor of
    about 2 and the same orientation), weighted by that source's gradient strength, so a
    weaker visible edge next to no thermal edge counts too. Differences from the metric:
    the orientation difference is the angle between the two gradient lines (atan2 of cross
    and dot product: smooth, in [0, pi/2]) instead of the difference of two ``atan(y/x)``
    values, which jumps where an edge turns through vertical; borders are replicated, not
    zero-padded; ``eps`` keeps flat regions' ratios and angles finite. On real images it
    follows the metric closely (tested).
    """
    def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # the metric's unnormalised Sobel (x 8: exact in binary floating point, so ``eps``
        # keeps its scale); replicate padding: zero padding makes every patch border an edge
        g = spatial_gradient(x.float()) * 8.0
        gx, gy = g[:, :, 0], g[:, :, 1]
        return gx, gy, (gx.square() + gy.square() + eps * eps).sqrt()

    fx, fy, fg = sobel(fused)
    tg, kg, dg = _QABF_STRENGTH
    ta, ka, da = _QABF_ORIENTATION
    total, weights = 0.0, 0.0
    for source in (a, b):
        with torch.no_grad():
            sx, sy, sg = sobel(source)
        ratio = torch.minimum(sg, fg) / torch.maximum(sg, fg)
        angle = _line_angle((sx * fy - sy * fx).abs(), (sx * fx + sy * fy).abs())
        orientation = 1 - angle / (torch.pi / 2)
        kept = (tg * torch.sigmoid(-kg * (ratio - dg))
                * ta * torch.sigmoid(-ka * (orientation - da)))
        total = total + (kept * sg).sum((1, 2, 3))
        weights = weights + sg.sum((1, 2, 3))
    return total / weights


def _line_angle(cross: torch.Tensor, dot: torch.Tensor) -> torch.Tensor:
    """atan2(cross, dot), with no gradient where cross^2 + dot^2 underflows: atan2's
    backward divides by it, and where a source and the fused image are both all but flat
    (an LLVIP crop's black border under a clipped fused patch) that was 0 in fp32 and made
    every weight's gradient NaN. The values are atan2's everywhere."""
    faint = cross.square() + dot.square() < 1e-30
    live = torch.atan2(torch.where(faint, 0.0, cross), torch.where(faint, 1.0, dot))
    return torch.where(faint, torch.atan2(cross, dot).detach(), live)


@in_fp32
def edge_loss_per_sample(fused: torch.Tensor, ir: torch.Tensor, y: torch.Tensor
                         ) -> torch.Tensor:
    """1 - :func:`edge_preservation` against both sources, per image :math:`(B,)`."""
    return 1 - edge_preservation(fused, ir, y)


def edge_loss(fused: torch.Tensor, ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The batch mean of :func:`edge_loss_per_sample`: the ``edge`` term of FastFusion's and
    DFVO's objectives."""
    return edge_loss_per_sample(fused, ir, y).mean()


@in_fp32
def piafusion_loss(fused: torch.Tensor, ir: torch.Tensor, y: torch.Tensor,
                   day: torch.Tensor, variant: str = 'paper') -> dict[str, torch.Tensor]:
    """Illumination-aware fusion loss.

    Args:
        fused, ir, y: :math:`(B, 1, H, W)` in [0, 1].
        day: :math:`(B,)` day probability per sample (W_vi); W_ir = 1 - day.
        variant: ``paper`` or ``tf``.

    Returns:
        ``{"total", "intensity", "max", "texture"}`` (scalars; total is the weighted sum).
    """
    w_vi = day.view(-1, 1, 1, 1).to(fused)
    w_ir = 1.0 - w_vi
    joint = torch.maximum(ir, y)
    if variant == 'tf':
        texture = max_fusion_losses(fused, y, ir)['max_texture']
        target = 0.7 * joint + 0.3 * (w_vi * y + w_ir * ir)
        intensity = F.l1_loss(fused, target)
        return {'total': 50 * intensity + 50 * texture, 'intensity': intensity,
                'max': fused.new_zeros(()), 'texture': texture}  # no separate max term
    intensity = (w_ir * (fused - ir).abs() + w_vi * (fused - y).abs()).mean()
    maxima = max_fusion_losses(fused, y, ir)
    max_term, texture = maxima['max_intensity'], maxima['max_texture']
    return {'total': 3 * intensity + 7 * max_term + 50 * texture, 'intensity': intensity,
            'max': max_term, 'texture': texture}


@in_fp32
def max_fusion_losses(fused: torch.Tensor, vi: torch.Tensor, ir: torch.Tensor
                      ) -> dict[str, torch.Tensor]:
    """``max_intensity`` = L1(F, max(vi, ir)), ``max_texture`` = L1(Sobel F, max(Sobel vi,
    Sobel ir)): PIAFusion's max and texture terms, without its illumination weighting."""
    texture = torch.maximum(sobel_gradient(vi), sobel_gradient(ir))
    return {'max_intensity': F.l1_loss(fused, torch.maximum(vi, ir)),
            'max_texture': F.l1_loss(sobel_gradient(fused), texture)}


@in_fp32
def exposure_loss(image: torch.Tensor, level: float = 0.55, patch: int = 16) -> torch.Tensor:
    """Zero-DCE exposure control: mean of ``patch`` x ``patch`` regions towards ``level``."""
    return (F.avg_pool2d(image, patch) - level).square().mean()


@in_fp32
def logit_range_loss(logits: torch.Tensor, limit: float = 8.0) -> torch.Tensor:
    """Mean squared excess of ``|logits|`` over ``limit``; 0 inside the range.

    A sigmoid's slope at 8 is 3e-4 and at 47 is 4e-21: a map pushed that far by one large
    step never comes back on its own gradient (a FastFusion run stalled so, validation
    frozen from epoch 2). This term's gradient stays alive out there and pulls it back."""
    return F.relu(logits.abs() - limit).square().mean()


@in_fp32
def smoothness_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation (mean squared neighbour differences) of a map."""
    return ((x[..., 1:, :] - x[..., :-1, :]).square().mean()
            + (x[..., :, 1:] - x[..., :, :-1]).square().mean())


def spatial_gradient(x: torch.Tensor) -> torch.Tensor:
    """Normalised Sobel derivatives (kernel / 8, reflect padding), :math:`(B, C, 2, H, W)`:
    the gradient operator DIDFuse's loss takes from kornia (``SpatialGradient``)."""
    b, c, h, w = x.shape
    kernel = (torch.stack((_SOBEL_X, _SOBEL_X.t())) / 8.0)[:, None].to(x)
    flat = F.pad(x.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode='replicate')
    return F.conv2d(flat, kernel).view(b, c, 2, h, w)


def _gaussian_window(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-coords.square() / (2 * sigma**2))
    return (g / g.sum())[None, None, None]  # (1, 1, 1, size): separable


def _gaussian_blur(x: torch.Tensor, size: int, sigma: float, pad: int = 0) -> torch.Tensor:
    """Separable Gaussian smoothing of every plane of :math:`(B, C, H, W)`: reflect-padded
    by ``pad``, else the valid part only (MATLAB's filter2 'valid'). Every plane is a channel
    of one grouped convolution: 30x faster on a CPU than a batch of one-channel convolutions,
    forward and backward."""
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), mode='reflect')
    b, c, h, w = x.shape
    g = _gaussian_window(size, sigma, x)
    y = F.conv2d(x.reshape(1, b * c, h, w), g.expand(b * c, 1, 1, size), groups=b * c)
    y = F.conv2d(y, g.transpose(-1, -2).expand(b * c, 1, size, 1), groups=b * c)
    return y.reshape(b, c, *y.shape[-2:])


@in_fp32
def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
         data_range: float = 1.0, padding: str = 'reflect') -> torch.Tensor:
    """Mean structural similarity (Wang et al. 2004) of :math:`(B, C, H, W)` images.

    Gaussian ``window`` x ``window`` weights, C1 = (0.01 L)^2, C2 = (0.03 L)^2. ``reflect``
    padding keeps the map at the image size (what kornia's ``ssim`` did); ``valid`` scores
    only full windows (the MATLAB metric). Differentiable.
    """
    pad = window // 2 if padding == 'reflect' else 0

    def blur(t: torch.Tensor) -> torch.Tensor:
        return _gaussian_blur(t, window, sigma, pad)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx.square()
    vy = blur(y * y) - my.square()
    cxy = blur(x * y) - mx * my
    value = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx.square() + my.square() + c1)
                                                      * (vx + vy + c2))
    return value.mean()


@in_fp32
def ssim_loss(x: torch.Tensor, y: torch.Tensor, window: int = 11) -> torch.Tensor:
    """(1 - SSIM) / 2, in [0, 1]."""
    return (1.0 - ssim(x, y, window)) / 2.0


# VIFp (Sheikh & Bovik's pixel-domain VIF, as fusion_ros.metrics): four scales, Gaussian
# windows of 17, 9, 5 and 3 pixels (sigma = size / 5), noise variance 2 on the 0-255 scale
_VIF_WINDOWS = (17, 9, 5, 3)
_VIF_NOISE = 2.0


def _vif_parts(source: torch.Tensor, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (B,): VIFp's numerator (information about ``source`` that ``fused``
    carries, summed over windows and scales) and its denominator (the source's own)."""
    ref, dist = source * 255.0, fused * 255.0
    num = den = 0.0
    for scale, size in enumerate(_VIF_WINDOWS):
        blur = functools.partial(_gaussian_blur, size=size, sigma=size / 5.0)
        if scale:  # the metric smooths with the new scale's window before subsampling
            ref, dist = blur(ref)[..., ::2, ::2], blur(dist)[..., ::2, ::2]
        mu_r, mu_d = blur(ref), blur(dist)
        s_r = (blur(ref * ref) - mu_r.square()).clamp_min(0.0)
        s_d = (blur(dist * dist) - mu_d.square()).clamp_min(0.0)
        s_rd = blur(ref * dist) - mu_r * mu_d
        flat = s_r < 1e-10
        # the gain of fused on source; where it is negative (or the source is flat) the
        # metric counts no information and all of fused's variance as distortion
        gain = torch.where(flat, torch.zeros_like(s_rd), s_rd / s_r.clamp_min(1e-10))
        gain = gain.clamp_min(0.0)
        distortion = (s_d - gain * s_rd).clamp_min(1e-10)  # s_d where the gain is 0
        num = num + torch.log10(1 + gain.square() * s_r / (distortion + _VIF_NOISE)).sum((1, 2, 3))
        den = den + torch.log10(1 + s_r / _VIF_NOISE).sum((1, 2, 3))
    return num, den


@in_fp32
def visual_fidelity(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A differentiable VIF of a fusion (the metric's VIFp against each source, summed), per
    image :math:`(B,)`: how much of each source's local structure, at four scales, the fused
    image carries. The metric's form on float images (it scores uint8 ones); patches need at
    least 64 pixels a side."""
    total = 0.0
    for source in (a, b):
        num, den = _vif_parts(source.detach(), fused)
        total = total + num / den.clamp_min(1e-10)
    return total


@in_fp32
def vif_loss(fused: torch.Tensor, ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - half the batch mean of :func:`visual_fidelity` (each source's VIFp is 1 for a
    copy of it): the ``vif`` term of the objectives (``Objective.source_terms``)."""
    return 1 - visual_fidelity(fused, ir, y).mean() / 2


@in_fp32
def didfuse_loss(v: torch.Tensor, v_hat: torch.Tensor, i: torch.Tensor, i_hat: torch.Tensor,
                 base_v: torch.Tensor, base_i: torch.Tensor, detail_v: torch.Tensor,
                 detail_i: torch.Tensor, w: Mapping[str, float]) -> dict[str, torch.Tensor]:
    """DIDFuse's auto-encoder loss (REFERENCE_NOTES, seed 001).

    ``w`` weights: ``reconstruction`` (2) x (``ssim`` (5) x SSIMloss + ``mse`` (1) x MSE) for
    each of V and I, + ``base`` (1) x tanh(L1(B_I, B_V)) - ``detail`` (0.5) x
    tanh(L1(D_I, D_V)) + ``gradient`` (10) x L1(grad V, grad V_hat).
    """
    terms = {
        'ssim_v': ssim_loss(v_hat, v), 'mse_v': F.mse_loss(v_hat, v),
        'ssim_i': ssim_loss(i_hat, i), 'mse_i': F.mse_loss(i_hat, i),
        'base': torch.tanh(F.l1_loss(base_i, base_v)),
        'detail': torch.tanh(F.l1_loss(detail_i, detail_v)),
        'gradient': F.l1_loss(spatial_gradient(v), spatial_gradient(v_hat)),
    }
    rec = w['reconstruction'] * (w['ssim'] * (terms['ssim_v'] + terms['ssim_i'])
                                 + w['mse'] * (terms['mse_v'] + terms['mse_i']))
    terms['total'] = (rec + w['base'] * terms['base'] - w['detail'] * terms['detail']
                      + w['gradient'] * terms['gradient'])
    return terms


# -- DFVO -----------------------------------------------------------------------------------
def _forward_differences(x: torch.Tensor) -> torch.Tensor:
    """|dx| + |dy| with forward differences (zero at the last row/column)."""
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0)).abs()
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1)).abs()
    return dx + dy


@in_fp32
def illumination_losses(il: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """DFVO's illumination priors: ``mg`` = mean(g exp(-10 g)) of the illumination gradient
    g, ``smooth`` = mean(|grad il| / max(|grad Y|, 0.01))."""
    g = _forward_differences(il)
    return {'il_mg': (g * torch.exp(-10.0 * g)).mean(),
            'il_smooth': (g / _forward_differences(y).clamp_min(0.01)).mean()}


def dark_channel(rgb: torch.Tensor, size: int = 10) -> torch.Tensor:
    """Minimum over RGB, then a ``size`` x ``size`` erosion (minimum filter)."""
    dc = rgb.amin(1, keepdim=True)
    lo, hi = (size - 1) // 2, size // 2
    return -F.max_pool2d(F.pad(-dc, (lo, hi, lo, hi), mode='replicate'), size, stride=1)


@in_fp32
def overexposure_corrected(enhanced: torch.Tensor, enhanced_rgb: torch.Tensor,
                           ir: torch.Tensor, factor: float = 7.0) -> torch.Tensor:
    """DFVO's fusion target for the visible side: where the refined dark channel of the
    enhanced image exceeds ``factor`` x its mean (glare, headlights), take the IR value."""
    dc = guided_filter(enhanced, dark_channel(enhanced_rgb))
    mask = dc > factor * dc.mean((1, 2, 3), keepdim=True)
    return torch.where(mask, ir, enhanced)


@in_fp32
def histogram_equalise(rgb: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Per-image, per-channel histogram equalisation of :math:`(B, 3, H, W)` in [0, 1]."""
    b, c, h, w = rgb.shape
    flat = (rgb.detach().clamp(0, 1) * (bins - 1)).round().long().view(b * c, -1)
    hist = torch.zeros(b * c, bins, device=rgb.device).scatter_add_(
        1, flat, torch.ones_like(flat, dtype=torch.float32))
    cdf = hist.cumsum(1)
    cdf_min = cdf.gather(1, (hist > 0).float().argmax(1, keepdim=True))
    lut = ((cdf - cdf_min) / (h * w - cdf_min).clamp_min(1)).clamp(0, 1)
    return lut.gather(1, flat).view(b, c, h, w)


@in_fp32
def equalised_luminance(y: torch.Tensor) -> torch.Tensor:
    """Histogram-equalised Y, 3x3 mean (against the noise equalisation lifts): DFVO's
    visible fusion target under ``fusion_targets: equalised``."""
    return box_blur(histogram_equalise(y), 1)


@in_fp32
def histogram_target_loss(enhanced: torch.Tensor, visible_y: torch.Tensor) -> torch.Tensor:
    """L1 between the enhanced luminance and the histogram-equalised visible luminance, both
    at half resolution: equalisation multiplies a dark frame's sensor noise, and the mean over
    2x2 blocks keeps the brightness and contrast of the target without asking for its noise."""
    target = histogram_equalise(visible_y)
    return F.l1_loss(F.avg_pool2d(enhanced, 2), F.avg_pool2d(target, 2))


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """The 4-neighbour Laplacian, replicate-padded (OpenCV's ``cv2.Laplacian`` with ksize 1)."""
    kernel = x.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), kernel.view(1, 1, 3, 3))


@in_fp32
def noise_excess_loss(enhanced: torch.Tensor, visible_y: torch.Tensor) -> torch.Tensor:
    """Mean of how far the enhanced image's |Laplacian| exceeds the input's, per pixel: the
    enhancement may lift brightness and smooth, but not amplify the fine detail of a dark
    frame, which is mostly sensor noise (the noise estimate the model card reports)."""
    return F.relu(laplacian(enhanced).abs() - laplacian(visible_y).abs()).mean()


def gamma_lifted(y: torch.Tensor, level: float = 0.45) -> torch.Tensor:
    """Each image raised to the gamma that takes its mean to ``level`` (only ever brighter):
    a smooth monotone tone curve, so the structure stays and the noise is not stretched the
    way a small patch's histogram equalisation stretches it."""
    mean = y.detach().mean((1, 2, 3), keepdim=True).clamp(1e-3, 0.999)
    gamma = (math.log(level) / torch.log(mean)).clamp(0.2, 1.0)
    return y.detach().clamp_min(1e-4).pow(gamma)


def lifted_denoised(y: torch.Tensor) -> torch.Tensor:
    """The enhancement target: the visible luminance smoothed by a small self-guided filter
    (edges kept, a night frame's fine noise removed) and then :func:`gamma_lifted`. On four
    256 px LLVIP night crops: mean 32 -> 113, median |Laplacian| 2.0 -> 1.0, correlation
    with the input 0.97; the gamma lift alone stretched the noise to 2.75."""
    y = y.detach()
    return gamma_lifted(self_guided_filter(y, 2, 1e-3).clamp(0, 1))


@in_fp32
def gamma_target_loss(enhanced: torch.Tensor, visible_y: torch.Tensor) -> torch.Tensor:
    """L1 between the enhanced luminance and :func:`lifted_denoised` visible luminance."""
    return F.l1_loss(enhanced, lifted_denoised(visible_y))


@in_fp32
def dfvo_fusion_losses(fused: torch.Tensor, fused_rgb: torch.Tensor, vi_target: torch.Tensor,
                       ir_target: torch.Tensor, enhanced_rgb: torch.Tensor,
                       enhanced: torch.Tensor) -> dict[str, torch.Tensor]:
    """DFVO's fusion terms against detached targets: ``sobel`` = MSE(Sobel F,
    max(Sobel vi', Sobel ir)), ``content`` = softmax([mean Sobel(en), mean Sobel(ir)])-weighted
    MSE of F to (vi', ir), ``colour`` = 1 - cos(en_rgb, fu_rgb) per pixel."""
    sobel_f = sobel_gradient(fused)
    target = torch.maximum(sobel_gradient(vi_target), sobel_gradient(ir_target))
    weights = torch.softmax(torch.stack((sobel_gradient(enhanced).mean((1, 2, 3)),
                                         sobel_gradient(ir_target).mean((1, 2, 3))), 1), 1)
    content = (weights[:, 0] * (fused - vi_target).square().mean((1, 2, 3))
               + weights[:, 1] * (fused - ir_target).square().mean((1, 2, 3))).mean()
    cos = F.cosine_similarity(enhanced_rgb, fused_rgb, dim=1, eps=1e-6)
    return {'sobel': F.mse_loss(sobel_f, target), 'content': content,
            'colour': (1.0 - cos).mean()}

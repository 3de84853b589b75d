# SPDX-License-Identifier: Apache-2.0
"""Fusion quality metrics, vectorised NumPy/OpenCV.

Every metric takes the two sources and the fused image as 8-bit grey arrays ``(H, W)`` of the
same size (colour goes through :func:`to_grey_uint8`, MATLAB's ``rgb2gray``) and a convention:

``tang``
    Reproduces the MATLAB evaluation code of Tang et al. (SeAFusion/PIAFusion benchmark) that
    produced the published tables, quirks included: PSNR = 20 log10(255 / sqrt(MSE)) with MSE
    on images scaled to [0, 1] and averaged over both sources (conventional PSNR + 48.13 dB);
    MI's joint histogram indexes ``uint8 + 1``, which saturates so grey levels 254 and 255
    share a bin; CC centres the second source with the mean of the first (harmless: the
    constant cancels); SD squares in saturating uint8 arithmetic; VIF's first scale
    multiplies uint8 images (saturating); Qabf's Sobel responses are summed in MATLAB's
    order, whose rounding decides its ``atan`` branches.
``standard``
    The textbook definitions: PSNR = 10 log10(1 / MSE) in dB, MI without saturation, CC with
    each source's own mean, SD as the float standard deviation, VIF in floating point.

Formulas (A, B sources, F fused, all in grey levels unless noted):

- EN  = -sum_k p_k log2 p_k over the 256-bin histogram of F.
- SD  = sqrt(mean((F - mean F)^2)).
- SF  = sqrt(RF^2 + CF^2), RF/CF the RMS of row/column first differences of F / 255.
- AG  = sum(sqrt((Fx^2 + Fy^2) / 2)) / ((H - 1)(W - 1)), central-difference gradients.
- MI  = I(A; F) + I(B; F), 256-bin histograms, bits.
- SCD = corr(F - B, A) + corr(F - A, B) (Aslantas & Bendes 2015).
- VIF = VIF_p(A, F) + VIF_p(B, F), multi-scale pixel VIF (Sheikh & Bovik), sigma_n^2 = 2;
  NaN when a source is perfectly flat (0 / 0, as in MATLAB).
- Qabf: Xydeas & Petrovic edge preservation with Sobel strength/orientation.
- SSIM = SSIM(A, F) + SSIM(B, F), Gaussian 11x11 window, sigma 1.5 (Wang et al. 2004).
- MSE = (mean((F - A)^2) + mean((F - B)^2)) / 2 on images / 255.
- PSNR: see the conventions above.
- CC  = (corr(A, F) + corr(B, F)) / 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np

from fusion_ros.errors import ConfigError, ShapeError

__all__ = ['CONVENTIONS', 'METRICS', 'compute_metrics', 'edge_preservation_maps', 'to_grey_uint8']

CONVENTIONS = ('tang', 'standard')

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray, str], float]


def to_grey_uint8(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` for uint8 RGB (rounded BT.601 luma); grey images pass through."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        if img.dtype != np.uint8:
            raise ShapeError(f'expected an 8-bit image, got {img.dtype}')
        return img
    if img.ndim != 3 or img.shape[2] != 3:
        raise ShapeError(f'expected a grey (H, W) or RGB (H, W, 3) image, got {img.shape}')
    rgb = img.astype(np.float64)
    y = 0.298936021293775 * rgb[..., 0] + 0.587043074451121 * rgb[..., 1] \
        + 0.114020904255103 * rgb[..., 2]
    return _matlab_round(y).clip(0, 255).astype(np.uint8)


def _matlab_round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, as MATLAB's integer conversions do."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _conv2_same(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``conv2(img, kernel, 'same')`` with zero padding, bit for bit.

    Terms are accumulated in MATLAB's order (kernel elements column-major). The order
    matters: on images scaled to [0, 1] a different order leaves 1e-17 residues where MATLAB
    gets exact zeros, which flips Qabf's ``atan(y / x)`` branches and equality tests and
    moves Qabf by up to 1 %.
    """
    kh, kw = kernel.shape
    h, w = img.shape
    padded = np.pad(img.astype(np.float64), ((kh // 2, kh - 1 - kh // 2),
                                             (kw // 2, kw - 1 - kw // 2)))
    out = np.zeros((h, w), np.float64)
    for col in range(kw):
        for row in range(kh):
            weight = kernel[row, col]
            if weight != 0:
                r0, c0 = kh - 1 - row, kw - 1 - col
                out += weight * padded[r0:r0 + h, c0:c0 + w]
    return out


def _filter2_valid(win: np.ndarray, img: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(win, img, 'valid')`` (correlation) for odd square windows.

    Separable windows (every Gaussian here) go through two 1-D passes, 5x faster.
    """
    r = win.shape[0] // 2
    h, w = img.shape
    if h <= 2 * r or w <= 2 * r:
        raise ShapeError(f'image {w}x{h} is smaller than the {2 * r + 1}x{2 * r + 1} window')
    u, s, vt = np.linalg.svd(win)
    if s[1] <= 1e-12 * s[0]:  # rank one: separable
        col = u[:, 0] * np.sqrt(s[0])
        row = vt[0] * np.sqrt(s[0])
        out = cv2.sepFilter2D(img, cv2.CV_64F, row, col, borderType=cv2.BORDER_CONSTANT)
    else:
        out = cv2.filter2D(img, cv2.CV_64F, win, borderType=cv2.BORDER_CONSTANT)
    return out[r:h - r, r:w - r]


def _gaussian(n: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', n, sigma)``."""
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma * sigma))
    g[g < np.finfo(np.float64).eps * g.max()] = 0
    return g / g.sum()


def _entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """MATLAB ``corr2``."""
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


# --- metrics ------------------------------------------------------------------------------

def entropy(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    return _entropy_bits(np.bincount(f.ravel(), minlength=256))


def standard_deviation(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    ff = f.astype(np.float64)
    if convention == 'tang':
        # uint8(F) - mean: rounds and saturates at 0; .^2 saturates at 255
        diff = _matlab_round(ff - ff.mean()).clip(0, 255)
        return float(np.sqrt(np.minimum(diff * diff, 255.0).mean()))
    return float(ff.std())


def spatial_frequency(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    ff = f.astype(np.float64) / 255.0
    rf = np.diff(ff, axis=0)
    cf = np.diff(ff, axis=1)
    return float(np.sqrt((rf * rf).mean() + (cf * cf).mean()))


def average_gradient(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    ff = f.astype(np.float64)
    gy, gx = np.gradient(ff)
    h, w = ff.shape
    return float(np.sqrt((gx * gx + gy * gy) / 2.0).sum() / ((h - 1) * (w - 1)))


def _mutual_information(x: np.ndarray, f: np.ndarray, saturate: bool) -> float:
    xi = x.ravel().astype(np.int64)
    fi = f.ravel().astype(np.int64)
    h_x = _entropy_bits(np.bincount(xi, minlength=256))
    h_f = _entropy_bits(np.bincount(fi, minlength=256))
    if saturate:
        # MATLAB's joint histogram indexes uint8 + 1, which saturates at 255: levels 254 and
        # 255 share a bin there (the marginal entropies come from entropy() and do not)
        xi = np.minimum(xi, 254)
        fi = np.minimum(fi, 254)
    joint = np.bincount(xi * 256 + fi, minlength=256 * 256)
    return h_x + h_f - _entropy_bits(joint)


def mutual_information(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    saturate = convention == 'tang'
    return _mutual_information(a, f, saturate) + _mutual_information(b, f, saturate)


def scd(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    a, b, f = (x.astype(np.float64) / 255.0 for x in (a, b, f))
    return _corr(f - b, a) + _corr(f - a, b)


def _vifp(ref: np.ndarray, dist: np.ndarray, saturate: bool) -> float:
    sigma_nsq = 2.0
    num = den = 0.0
    ref = ref.astype(np.float64)
    dist = dist.astype(np.float64)
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _gaussian(n, n / 5.0)
        if scale > 1:
            ref = _filter2_valid(win, ref)[::2, ::2]
            dist = _filter2_valid(win, dist)[::2, ::2]
        mu1 = _filter2_valid(win, ref)
        mu2 = _filter2_valid(win, dist)
        if saturate and scale == 1:  # uint8 .* uint8 saturates at 255 in MATLAB
            rr, dd, rd = (np.minimum(x, 255.0) for x in (ref * ref, dist * dist, ref * dist))
        else:
            rr, dd, rd = ref * ref, dist * dist, ref * dist
        s1 = _filter2_valid(win, rr) - mu1 * mu1
        s2 = _filter2_valid(win, dd) - mu2 * mu2
        s12 = _filter2_valid(win, rd) - mu1 * mu2
        s1 = np.maximum(s1, 0.0)
        s2 = np.maximum(s2, 0.0)
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        low1 = s1 < 1e-10
        g[low1] = 0
        sv[low1] = s2[low1]
        s1[low1] = 0
        low2 = s2 < 1e-10
        g[low2] = 0
        sv[low2] = 0
        neg = g < 0
        sv[neg] = s2[neg]
        g[neg] = 0
        sv[sv <= 1e-10] = 1e-10
        num += np.log10(1 + g * g * s1 / (sv + sigma_nsq)).sum()
        den += np.log10(1 + s1 / sigma_nsq).sum()
    return float(num / den)


def vif(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    saturate = convention == 'tang'
    return _vifp(a, f, saturate) + _vifp(b, f, saturate)


_SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], np.float64)
_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)


def _edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx = _conv2_same(img, _SOBEL_X)
    sy = _conv2_same(img, _SOBEL_Y)
    with np.errstate(divide='ignore', invalid='ignore'):
        angle = np.where(sx == 0, np.pi / 2, np.arctan(sy / np.where(sx == 0, 1.0, sx)))
    return np.sqrt(sx * sx + sy * sy), angle


def _edge_preservation(g_src: np.ndarray, a_src: np.ndarray, g_f: np.ndarray,
                       a_f: np.ndarray) -> np.ndarray:
    tg, kg, dg, ta, ka, da = 0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8
    with np.errstate(divide='ignore', invalid='ignore'):
        # the original keeps g itself (not 1) where both strengths are equal
        rel = np.where(g_src > g_f, g_f / g_src,
                       np.where(g_src == g_f, g_f, g_src / np.where(g_f == 0, 1.0, g_f)))
    orient = 1 - np.abs(a_src - a_f) / (np.pi / 2)
    return tg / (1 + np.exp(kg * (rel - dg))) * (ta / (1 + np.exp(ka * (orient - da))))


def edge_preservation_maps(a: np.ndarray, b: np.ndarray, f: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Qabf's per-pixel parts: edge preservation of each source in ``f`` and each source's
    edge strength; Qabf = sum(q_af g_a + q_bf g_b) / sum(g_a + g_b) over the pixels scored
    (``metrics.pooled`` sums them over tiles of a larger image)."""
    a, b, f = (x.astype(np.float64) / 255.0 for x in (a, b, f))
    g_a, a_a = _edges(a)
    g_b, a_b = _edges(b)
    g_f, a_f = _edges(f)
    return (_edge_preservation(g_a, a_a, g_f, a_f), _edge_preservation(g_b, a_b, g_f, a_f),
            g_a, g_b)


def qabf(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    q_af, q_bf, g_a, g_b = edge_preservation_maps(a, b, f)
    return float((q_af * g_a + q_bf * g_b).sum() / (g_a + g_b).sum())


def _ssim(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    win = _gaussian(11, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _filter2_valid(win, x), _filter2_valid(win, y)
    sxx = _filter2_valid(win, x * x) - mx * mx
    syy = _filter2_valid(win, y * y) - my * my
    sxy = _filter2_valid(win, x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / (
        (mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


def ssim(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    return _ssim(a, f) + _ssim(b, f)


def _mse_unit(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    a, b, f = (x.astype(np.float64) / 255.0 for x in (a, b, f))
    return float(0.5 * ((f - a) ** 2).mean() + 0.5 * ((f - b) ** 2).mean())


def mse(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    return _mse_unit(a, b, f)


def psnr(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    m = _mse_unit(a, b, f)
    if m == 0:
        return float('inf')
    if convention == 'tang':
        return float(20 * np.log10(255.0 / np.sqrt(m)))
    return float(10 * np.log10(1.0 / m))


def correlation(a: np.ndarray, b: np.ndarray, f: np.ndarray, convention: str) -> float:
    a, b, f = (x.astype(np.float64) / 255.0 for x in (a, b, f))
    fc = f - f.mean()
    ac = a - a.mean()
    # tang centres the second source with the FIRST source's mean (the MATLAB bug); the
    # constant cancels since sum(fc) = 0, so both conventions agree up to rounding
    bc = b - (a.mean() if convention == 'tang' else b.mean())
    bn = b - b.mean()
    r_af = (ac * fc).sum() / np.sqrt((ac * ac).sum() * (fc * fc).sum())
    r_bf = (bc * fc).sum() / np.sqrt((bn * bn).sum() * (fc * fc).sum())
    return float((r_af + r_bf) / 2)


METRICS: dict[str, Metric] = {
    'EN': entropy,
    'SD': standard_deviation,
    'SF': spatial_frequency,
    'AG': average_gradient,
    'MI': mutual_information,
    'SCD': scd,
    'VIF': vif,
    'Qabf': qabf,
    'SSIM': ssim,
    'PSNR': psnr,
    'MSE': mse,
    'CC': correlation,
}


def compute_metrics(
    ir: np.ndarray,
    vi: np.ndarray,
    fused: np.ndarray,
    metrics: Iterable[str] | None = None,
    convention: str = 'tang',
) -> dict[str, float]:
    """Compute ``metrics`` (default: all) for one fused image.

    Args:
        ir: infrared source, grey or RGB uint8 :math:`(H, W[, 3])`.
        vi: visible source, same size.
        fused: fused image, same size; colour is evaluated on its luminance.
        metrics: names from :data:`METRICS`.
        convention: ``tang`` or ``standard``.

    Raises:
        ConfigError: unknown metric or convention.
        ShapeError: sizes differ or images are not 8-bit grey/RGB.
    """
    if convention not in CONVENTIONS:
        raise ConfigError(f'unknown convention {convention!r}; use one of {CONVENTIONS}')
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f'unknown metric(s) {unknown}; available: {", ".join(METRICS)}')
    a, b, f = (to_grey_uint8(x) for x in (ir, vi, fused))
    if not a.shape == b.shape == f.shape:
        raise ShapeError(f'sizes differ: ir {a.shape}, vi {b.shape}, fused {f.shape}')
    return {name: METRICS[name](a, b, f, convention) for name in names}

# SPDX-License-Identifier: Apache-2.0
"""Find the thermal-to-RGB homography of a camera rig from ordinary frames (no target).

Thermal and visible intensities are unrelated (a warm face is bright in one, dark in the
other), so frames are compared through their edge structure: the gradient magnitude of
each image, blurred and divided by its local average so that faint thermal edges and
strong RGB edges weigh alike. The transform is then found in two steps:

1. A global search at 1/4 scale: every candidate scale and rotation warps the thermal
   edges, and normalised cross-correlation (``cv2.matchTemplate``) gives the best shift;
   the correlation maps of all frames are summed, so no single frame decides.
2. Coarse-to-fine Gauss-Newton refinement of the chosen model (translation, similarity,
   affine or homography) on all frames jointly, ECC-like (a gain and offset per frame),
   with Huber weights so that moving objects and edges one camera does not see count
   less. Each frame is then refined alone from the joint answer: the spread of those
   per-frame answers is the confidence, and frames far from the rest are left out.

Coordinates inside are normalised per camera (centre 0, half-width 1), so the same
parameters describe every pyramid level and a thermal camera of another resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from fusion_ros.errors import RegistrationError
from fusion_ros.registration.features import _agreement, _Level, edge_density, grey_unit
from fusion_ros.registration.geometry import (
    MODELS,
    _g_from_homography,
    _homography_from_g,
    _project,
    corner_error,
)
from fusion_ros.registration.search import SEARCH_WIDTH, _gauss_newton, _global_search

__all__ = ['Registration', 'estimate_registration', 'spaced_indices']

REFINE_WIDTHS = (160, 320, 640)  # the search (at 160) starts closer than an 80 px level
SPREAD_WIDTH = 320           # per-frame refinements (the confidence) and outlier test
FINALISTS = 3                # candidates judged one level finer
RIVAL_PX = 5.0               # a finalist this far from the answer is a different answer
SEARCH_FRAMES = 8            # frames the global search and candidate choice look at
FINE_FRAMES = 10             # frames of the finest level (most of the accuracy is coarser)
OUTLIER_PX = 4.0             # a frame this far from the joint answer (or 3x median) is out
MIN_EDGE_DENSITY = 0.004     # share of pixels with a real edge; below: textureless
MIN_PEAK = 0.1               # search peak: real pairs 0.2-0.5, unrelated images 0.12-0.16
# final agreement: registered real pairs 0.15-0.6, unrelated images < 0.12; a wrong
# single-frame answer on a real pair scored 0.149 (refusing beats answering wrong)
MIN_SCORE = 0.15
# a few frames pin a transform down far less than a recording: there the answer is checked
# by registering the other way round (RGB onto thermal) from scratch. On 131 RoadScene
# single frames every one of the 25 wrong answers (> 5 px off) came back more than 5.8
# thermal px from where it started, 103 of the 106 right ones less than 5
CHECK_MAX_FRAMES = 3
CONSISTENCY_PX = 5.0         # thermal pixels (per 640 of thermal width, at least 5)


@dataclass(frozen=True)
class Registration:
    """Result of :func:`estimate_registration`.

    Attributes:
        homography: 3x3 thermal-pixel to RGB-pixel map (full resolution), ``h[2,2] = 1``.
        model: the transform family fitted.
        frames: frames given; ``used``: indices that decided the answer.
        spread_px: median RGB-pixel distance (mean over the four image corners) between
            each used frame refined alone and the joint answer; ``None`` for one frame.
        spread_p95_px: its 95th percentile.
        per_frame_px: that distance for every used frame (``None`` for one frame).
        score_before, score: :func:`edge_agreement` of identity and of the answer, mean
            over the used frames.
        skipped: ``index -> reason`` of frames left out.
        margin: how much better the answer's edge agreement is than that of the best
            search candidate that converged elsewhere (more than 5 px away); None when all
            converged to it (or with ``initial``). Small: an ambiguous scene.
        consistency_px: how far the thermal image corners land from where they started
            when mapped onto RGB by the answer and back by the RGB-onto-thermal registration
            of the same frames (thermal pixels); None when that check did not run
            (recordings of more than ``CHECK_MAX_FRAMES`` frames).
    """

    homography: np.ndarray
    model: str
    frames: int
    used: list[int]
    spread_px: float | None
    spread_p95_px: float | None
    per_frame_px: list[float] | None
    score_before: float
    score: float
    skipped: dict[int, str] = field(default_factory=dict)
    margin: float | None = None
    consistency_px: float | None = None

    def to_json(self) -> dict:
        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 4)
        return {
            'homography': [float(v) for v in self.homography.reshape(-1).round(9)],
            'model': self.model,
            'frames': self.frames,
            'frames_used': len(self.used),
            'spread_px': r(self.spread_px),
            'spread_p95_px': r(self.spread_p95_px),
            'per_frame_px': None if self.per_frame_px is None
            else [round(v, 3) for v in self.per_frame_px],
            'score_before': r(self.score_before),
            'score': r(self.score),
            'skipped': {str(k): v for k, v in self.skipped.items()},
            'margin': r(self.margin),
            'consistency_px': r(self.consistency_px),
        }


def spaced_indices(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them if ``n <= k``)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, k)})


def _spread(g_frame: np.ndarray, g: np.ndarray, t_size: tuple[int, int],
            v_size: tuple[int, int]) -> float:
    return corner_error(_homography_from_g(g_frame, t_size, v_size),
                        _homography_from_g(g, t_size, v_size), t_size)


def estimate_registration(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    model: str = 'similarity',
    initial: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    check: bool | None = None,
) -> Registration:
    """Estimate the homography mapping thermal pixels onto the RGB image.

    Args:
        frames: (thermal, rgb) image pairs of one rig (any sizes; each camera's size the
            same in every pair), mono/RGB, 8- or 16-bit.
        model: ``translation``, ``similarity`` (what most side-by-side rigs need),
            ``affine`` or ``homography``. Fewer parameters cannot overfit few frames.
        initial: a 3x3 thermal-to-RGB starting guess; None searches scale 0.8-1.2,
            rotation +-4 degrees and shifts up to 15 % of the width.
        progress: called with 1 per frame prepared, then once per refinement stage.
        check: register the other way round too and refuse when the round trip misses by
            more than ``CONSISTENCY_PX``; None (default): for at most ``CHECK_MAX_FRAMES``
            frames and no ``initial`` (it about doubles the time).

    Raises:
        RegistrationError: no frame has enough structure in both images, the frames agree
            on no transform, or the check found the answer inconsistent.
        ConfigError: unknown model, or frames of changing sizes.
    """
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    keep_all = check is True

    def remember(pairs: Iterable[tuple[np.ndarray, np.ndarray]]
                 ) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        for k, pair in enumerate(pairs):
            if keep_all or k < CHECK_MAX_FRAMES:
                kept.append(pair)
            yield pair

    result = _estimate(remember(frames), model=model, initial=initial, progress=progress)
    if check is None:
        check = (initial is None and result.frames <= CHECK_MAX_FRAMES)
    if not check:
        return result
    reverse_frames = [(kept[i][1], kept[i][0]) for i in result.used]
    t_size = kept[0][0].shape[1::-1]
    limit = CONSISTENCY_PX * max(1.0, t_size[0] / 640.0)
    try:
        reverse = _estimate(reverse_frames, model=model)
    except RegistrationError as err:
        raise RegistrationError(
            f'the answer could not be checked: registering RGB onto thermal failed ({err}); '
            f'give more frames (a recording) to register from') from None
    loop = reverse.homography @ result.homography  # thermal -> RGB -> thermal: identity
    apart = corner_error(loop / loop[2, 2], np.eye(3), t_size)
    if apart > limit:
        raise RegistrationError(
            f'the frames do not pin the transform down: thermal-onto-RGB and RGB-onto-thermal '
            f'answers are {apart:.1f} px apart (more than {limit:.1f}); the scene is '
            f'ambiguous (repeated structure, glare, too dark): give more frames of varied '
            f'scenes (a recording)')
    return replace(result, consistency_px=apart)


def _estimate(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    model: str = 'similarity',
    initial: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> Registration:
    """:func:`estimate_registration` without the check (the search and refinement)."""
    from fusion_ros.errors import ConfigError

    if model not in MODELS:
        raise ConfigError(f'unknown registration model {model!r}; choose from '
                          f'{", ".join(MODELS)}')
    greys: list[tuple[np.ndarray, np.ndarray]] = []
    skipped: dict[int, str] = {}
    t_size = v_size = None
    count = 0
    for i, (thermal, visible) in enumerate(frames):
        count += 1
        t, v = grey_unit(thermal), grey_unit(visible)
        sizes = (t.shape[::-1], v.shape[::-1])
        if t_size is None:
            t_size, v_size = sizes
        elif sizes != (t_size, v_size):
            raise ConfigError(f"frame {i}: sizes {sizes} differ from the first frame's "
                              f'{(t_size, v_size)}')
        dt, dv = edge_density(t), edge_density(v)
        if min(dt, dv) < MIN_EDGE_DENSITY:
            which = 'thermal' if dt < dv else 'RGB'
            skipped[i] = f'textureless {which} image ({100 * min(dt, dv):.2f} % edges)'
        else:
            greys.append((i, t, v))
        if progress is not None:
            progress(1)
    if count == 0:
        raise RegistrationError('no frames to register')
    if not greys:
        raise RegistrationError(
            f'none of the {count} frames has enough structure in both images to register '
            f'(textureless: a blank wall, sky, lens cap or a thermal camera still in its '
            f'flat-field correction); record a scene with edges at several distances')
    assert t_size is not None and v_size is not None
    index = [i for i, _, _ in greys]
    widths = [w for w in REFINE_WIDTHS if w <= max(v_size[0], REFINE_WIDTHS[0])]
    search_w = min(SEARCH_WIDTH, widths[-1])
    spread_w = min(SPREAD_WIDTH, widths[-1])
    # levels up to spread_w for every frame; finer ones for a few spread over the recording
    cheap = [w for w in widths if w <= spread_w]
    pyramid = {w: [_Level(t, v, w) for _, t, v in greys] for w in cheap}
    fine = spaced_indices(len(greys), FINE_FRAMES)
    for w in widths[len(cheap):]:
        pyramid[w] = [_Level(greys[j][1], greys[j][2], w) for j in fine]
    search_levels = pyramid[search_w]
    few = spaced_indices(len(greys), SEARCH_FRAMES)
    if initial is not None:
        g = _project(_g_from_homography(np.asarray(initial, np.float64), t_size, v_size),
                     model)
        coarse: list[int] = []
        margin = None
    else:
        candidates = _global_search([search_levels[j] for j in few])
        peak = candidates[0][0] if candidates else 0.0
        if peak < MIN_PEAK:
            raise RegistrationError(
                f'the thermal and RGB edges agree nowhere (best correlation {peak:.3f} < '
                f'{MIN_PEAK}): the frames show too little common structure, or the '
                f'cameras differ by more than scale 0.8-1.2, 4 degrees or 15 % shift')
        # one frame's correlation peak can sit at a wrong scale (large blobs match many):
        # refine every scale's best at the search level, then the FINALISTS whose edges
        # agree best there a few steps one level finer, and judge them at that level
        # (the coarse level alone cannot tell some scenes' scales apart)
        coarse = [w for w in widths if w <= search_w]
        finer = [w for w in widths if w > search_w][:1]
        refined = []
        for _, cand in candidates:
            cand = _project(cand, model)
            for w in coarse:
                cand = _gauss_newton([pyramid[w][j] for j in few], cand, model, 25)
            refined.append((float(np.mean([_agreement(search_levels[j], cand)
                                           for j in few])), cand))
        refined.sort(key=lambda item: -item[0])
        finalists = refined[:FINALISTS]
        if finer:
            judge = [pyramid[finer[0]][j] for j in few]
            finalists = []
            for _, cand in refined[:FINALISTS]:
                cand = _gauss_newton(judge, cand, model, 5)
                finalists.append((float(np.mean([_agreement(lv, cand) for lv in judge])),
                                  cand))
        best_score, g = max(finalists, key=lambda item: item[0])
        rivals = [score for score, cand in finalists
                  if _spread(cand, g, t_size, v_size) > RIVAL_PX]
        margin = best_score - max(rivals) if rivals else None
    if progress is not None:
        progress(0)
    for w in widths:
        if w in coarse and len(few) == len(greys):
            continue
        g = _gauss_newton(pyramid[w], g, model, iterations=25 if w <= search_w else 10)
    # each frame alone from the joint answer: the spread is the confidence
    used = list(range(len(greys)))
    per_frame: list[float] | None = None
    if len(greys) >= 2:
        dev = np.array([_spread(_gauss_newton([lv], g, model, 6), g, t_size, v_size)
                        for lv in pyramid[spread_w]])
        keep = dev <= max(OUTLIER_PX, 3.0 * float(np.median(dev)))
        if 0 < keep.sum() < len(greys):
            for j in np.flatnonzero(~keep):
                skipped[index[j]] = f'disagrees with the other frames by {dev[j]:.1f} px'
            used = [j for j in used if keep[j]]
            kept = set(used)
            for w in widths[widths.index(spread_w):]:
                members = range(len(greys)) if w in cheap else fine
                levels = [lv for j, lv in zip(members, pyramid[w]) if j in kept]
                if levels:
                    g = _gauss_newton(levels, g, model, iterations=8)
            dev = dev[keep]
        per_frame = [float(d) for d in dev]
    if progress is not None:
        progress(0)
    # scored as edge_agreement() does (the node's live score), at the spread level
    score_levels = [pyramid[spread_w][j] for j in used]
    score = float(np.mean([_agreement(lv, g) for lv in score_levels]))
    if score < MIN_SCORE:
        raise RegistrationError(
            f'the thermal and RGB edges agree nowhere (edge agreement {score:.3f} < '
            f'{MIN_SCORE} at the best transform found): the frames show too little common '
            f'structure, or the cameras differ by more than scale 0.8-1.2, 4 degrees or '
            f'15 % shift')
    before = float(np.mean([_agreement(lv, np.eye(3)) for lv in score_levels]))
    return Registration(
        homography=_homography_from_g(g, t_size, v_size),
        model=model,
        frames=count,
        used=[index[j] for j in used],
        spread_px=None if per_frame is None else float(np.median(per_frame)),
        spread_p95_px=None if per_frame is None else float(np.percentile(per_frame, 95)),
        per_frame_px=per_frame,
        score_before=before,
        score=score,
        skipped=skipped,
        margin=margin,
    )

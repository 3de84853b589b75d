# SPDX-License-Identifier: Apache-2.0
"""A synthetic night frame and the noise measure of benchmarks/heldout.py, for the tests of
the enhanced outputs."""

import cv2
import numpy as np


def night_frame(seed: int = 0) -> np.ndarray:
    """A dark 8-bit frame: a lamp-lit square on a darker road, sensor noise of 1.5 grey
    levels, quantised as a camera delivers it."""
    rng = np.random.default_rng(seed)
    frame = np.full((96, 128), 18.0)
    frame[30:70, 40:90] = 40.0
    frame += np.linspace(0, 6, 128)[None, :]  # a soft gradient the smoothing must keep
    return np.clip(np.rint(frame + rng.normal(0, 1.5, frame.shape)), 0, 255).astype(np.uint8)


def noise(grey: np.ndarray) -> float:  # median |Laplacian|, as benchmarks/heldout.py
    return float(np.median(np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F))))

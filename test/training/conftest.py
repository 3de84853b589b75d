# SPDX-License-Identifier: Apache-2.0
"""Tiny paired data for the training tests."""

import cv2
import numpy as np
import pytest


def write_pair_set(root, n=4, size=(48, 40), suffixes='DN', seed=0):
    """``root/{ir,vi}/NAME.png``: smooth blobs plus noise, day/night by the MSRS suffix."""
    rng = np.random.default_rng(seed)
    (root / 'ir').mkdir(parents=True)
    (root / 'vi').mkdir(parents=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 60.0)
        ir = np.clip(60 + 180 * blob + rng.normal(0, 8, (h, w)), 0, 255).astype(np.uint8)
        night = suffixes[i % len(suffixes)] == 'N'
        base = 30 if night else 150
        vi = np.clip(base + 60 * np.sin(xx / 5.0 + i)[..., None] * [1, 0.8, 0.6]
                     + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
        name = f'{i:03d}{suffixes[i % len(suffixes)]}.png'
        cv2.imwrite(str(root / 'ir' / name), ir)
        cv2.imwrite(str(root / 'vi' / name), vi)
    return root


@pytest.fixture()
def pair_set(tmp_path):
    return write_pair_set(tmp_path / 'set')

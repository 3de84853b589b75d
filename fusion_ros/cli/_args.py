# SPDX-License-Identifier: Apache-2.0
"""Argument types shared by subcommands."""

from __future__ import annotations

import argparse


def size(text: str) -> tuple[int, int]:
    """``640x512`` -> (640, 512)."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must look like 640x512, got {text!r}') from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f'size must be positive, got {text!r}')
    return w, h


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be > 0, got {text!r}')
    return value

# SPDX-License-Identifier: Apache-2.0
"""A centre window of an image pair, for comparing a local network against whole-image
reference outputs at a fraction of the cost.

A network with no global statistics that sees ``margin`` px or fewer around a pixel gives,
inside a window cropped from the input, exactly the output of the whole image there. DIDFuse
sees 8 px (seven 3x3 convolutions and its L1 rule's 3x3 box); its tests use 16.
"""

from __future__ import annotations

Slices = tuple[slice, slice]
WHOLE: Slices = (slice(None), slice(None))


def centre_window(shape: tuple[int, ...], size: int | None,
                  margin: int = 16) -> tuple[Slices, Slices, Slices]:
    """Where to crop the inputs, where the window's inside lies in the image (for the
    reference output) and in the window (for the network's output). ``size`` None: the
    whole image, three times."""
    if size is None:
        return WHOLE, WHOLE, WHOLE
    y, x = (shape[0] - size) // 2, (shape[1] - size) // 2
    crop = (slice(y, y + size), slice(x, x + size))
    inside = (slice(y + margin, y + size - margin), slice(x + margin, x + size - margin))
    return crop, inside, (slice(margin, size - margin),) * 2

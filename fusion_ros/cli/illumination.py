# SPDX-License-Identifier: Apache-2.0
"""Day/night probabilities of visible images.

With --weights, PIAFusion's illumination classifier (e.g. the PyTorch port's released
illumination_classifier_pytorch_port.pth) scores the whole RGB image: P(day) =
s_day / (s_day + s_night). Without --weights, the classifier we trained (shipped inside
models/piafusion.pt) does; where it is not installed, the weight-free luminance estimator
the node falls back on (raw = [P(day), P(night)]).

Examples:
  fusion-ros illumination --weights illumination_classifier_pytorch_port.pth img1.png img2.png
  fusion-ros illumination --json vi/*.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

SHIPPED_CLASSIFIER = 'models/piafusion.pt'  # PIAFusion's stage 1 travels in its fusion file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('images', type=Path, nargs='+', metavar='IMAGE', help='visible images')
    parser.add_argument('--weights', type=Path, default=None, metavar='PATH',
                        help='PIAFusion classifier state dict (default: the classifier '
                             'shipped in models/piafusion.pt, else the luminance estimator)')
    parser.add_argument('--head', default=None, choices=('relu', 'abs'),
                        help='classifier output head: relu (PyTorch port) or abs (TensorFlow, '
                             'and our trained classifier); default: what the checkpoint says, '
                             'else relu')
    parser.add_argument('--json', action='store_true',
                        help='print a JSON list of {image, day, night, raw}')


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import numpy as np
    import torch

    from fusion_ros.errors import FusionError
    from fusion_ros.io.image_files import read_image
    from fusion_ros.models.piafusion import (
        illumination_probabilities,
        load_illumination_classifier,
    )
    from fusion_ros.ops.color import rgb_to_ycbcr
    from fusion_ros.ops.convert import array_to_tensor, visible_to_unit
    from fusion_ros.ops.illumination import luminance_day_probability
    from fusion_ros.resources import shipped_file

    # default: the classifier shipped inside models/piafusion.pt, else the luminance estimate
    weights = args.weights if args.weights is not None else shipped_file(SHIPPED_CLASSIFIER)
    classifier = None
    if weights is not None:
        classifier = load_illumination_classifier(weights, head=args.head)
    rows, failed = [], []
    for path in args.images:
        try:
            image = visible_to_unit(read_image(path))
            if image.ndim == 2:  # grey: the classifier takes RGB
                image = np.repeat(image[..., None], 3, axis=2)
            rgb = array_to_tensor(image, torch.device('cpu'))
            with torch.inference_mode():
                if classifier is not None:
                    raw = classifier(rgb)
                    day = float(illumination_probabilities(raw)[0, 0])
                    raw_list = [float(v) for v in raw[0]]
                else:
                    day = float(luminance_day_probability(rgb_to_ycbcr(rgb)[:, :1])[0])
                    raw_list = [day, 1.0 - day]
        except FusionError as err:
            failed.append(f'{path}: {err}')
            continue
        rows.append({'image': str(path), 'day': day, 'night': 1.0 - day, 'raw': raw_list})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            label = 'day' if row['day'] >= 0.5 else 'night'
            print(f"{row['image']}: day {row['day']:.3f} night {row['night']:.3f} ({label})")
    for line in failed:
        print(f'failed: {line}', file=sys.stderr)
    return 1 if failed else 0

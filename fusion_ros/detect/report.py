# SPDX-License-Identifier: Apache-2.0
"""Detections as JSON: the ``detections/json`` payload of the node and the bag tools."""

from __future__ import annotations

import json
from collections.abc import Sequence

from fusion_ros.detect.base import Detection

__all__ = ['detections_json']


def detections_json(dets: Sequence[Detection], stamp_ns: int, frame_id: str) -> str:
    """The JSON payload: stamp_ns, frame_id and detections (label, score, box xyxy)."""
    return json.dumps({'stamp_ns': stamp_ns, 'frame_id': frame_id, 'detections': [
        {'label': d.label, 'score': round(d.score, 4), 'box': [round(v, 2) for v in d.xyxy]}
        for d in dets]})

# SPDX-License-Identifier: Apache-2.0
"""Tiny YOLO-format ONNX models built in the tests (no download, no training).

The output is a fixed table of boxes, except that the objectness (YOLOv5) or every class
score (YOLOv8) is raised by the mean pixel value of the input, so what the model says
depends on the image it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def yolo_onnx(path: Path, rows: Sequence[Sequence[float]], layout: str = 'yolov5',
              input_size: tuple[int, int] = (160, 160), brightness_column: bool = True) -> Path:
    """Write an ONNX model whose output is ``rows`` (YOLOv5 layout: cx, cy, w, h, obj,
    classes...), transposed for ``yolov8`` (which then drops the objectness column).

    With ``brightness_column`` the input's mean pixel (0..1) is added to the objectness
    (v5) or to every class score (v8).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.asarray(rows, np.float32)
    mask = np.zeros_like(table)
    if brightness_column:
        mask[:, 4] = 1.0
    if layout == 'yolov8':
        table = np.concatenate([table[:, :4], table[:, 5:]], axis=1).T[None]
        mask = np.concatenate([mask[:, :4], np.ones_like(table[0, 4:].T) * brightness_column],
                              axis=1).T[None]
    else:
        table, mask = table[None], mask[None]
    w, h = input_size
    nodes = [
        helper.make_node('ReduceMean', ['images'], ['mean'], keepdims=0),
        helper.make_node('Mul', ['mean', 'mask'], ['lift']),
        helper.make_node('Add', ['table', 'lift'], ['output0']),
    ]
    graph = helper.make_graph(
        nodes, 'tiny_yolo',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info('output0', TensorProto.FLOAT, list(table.shape))],
        initializer=[numpy_helper.from_array(table, 'table'),
                     numpy_helper.from_array(mask.astype(np.float32), 'mask')],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path

# SPDX-License-Identifier: Apache-2.0
"""Defaults shared by the engine, the node and the CLI (no heavy imports: --help stays fast)."""

import os

DEFAULT_MODEL = 'fastfusion'  # our real-time model; ships trained in models/fastfusion.pt
# engine precisions (fusion_ros.engine.precision says what auto resolves to)
PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')
DEFAULT_PRECISION = 'auto'
# what runs the network (fusion_ros.engine.runtimes says what auto resolves to);
# FUSION_ROS_BACKEND changes the default of FusionEngine and the CLIs in a process (the
# fusion node's comes from its `backend` parameter)
BACKENDS = ('auto', 'torch', 'openvino', 'onnxruntime')
DEFAULT_BACKEND = os.environ.get('FUSION_ROS_BACKEND') or 'auto'

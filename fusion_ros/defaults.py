# SPDX-License-Identifier: Apache-2.0
"""Every default shared by the engine, the nodes, the bag tools and the CLI: one home, so
``bag fuse`` pairs and switches day/night exactly as the node does by construction, not by
copies agreeing by hand (no heavy imports: --help stays fast). ``config/fusion.yaml`` spells
the node's out for users; a test holds it to these."""

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

# pairing thermal with RGB (message_filters ApproximateTime): the node, bag fuse, bag info,
# register and the training sources
SYNC_SLOP_S = 0.025  # largest stamp difference within a pair, seconds
SYNC_QUEUE_SIZE = 10  # messages kept per input while waiting for a partner
SYNC_POLICY = 'approximate'
# day/night switching of illumination/is_night (stream.hysteresis.NightHysteresis)
NIGHT_THRESHOLD = 0.4  # P(day) below this counts towards night
DAY_THRESHOLD = 0.6  # P(day) above this counts towards day
MIN_DWELL_S = 2.0  # image-time seconds a new state must hold before it switches
# gain control of 16-bit and float thermal frames: percentiles (low, high)
THERMAL_AGC = (1.0, 99.0)
# live registration watch (registration.monitor.RegistrationMonitor)
REGISTRATION_CHECK_EVERY = 30  # score every N-th fused frame (0: never)
REGISTRATION_WARN_RATIO = 0.6  # WARN below this share of the start-up score

# SPDX-License-Identifier: Apache-2.0
"""fusion_ros: thermal + RGB image fusion for ROS 2.

The core (``models``, ``ops``, ``engine``, ``data``, ``io``) is plain PyTorch/NumPy and never
imports rclpy; ``fusion_ros.ros`` is the thin ROS layer.
"""

__version__ = '0.1.0'

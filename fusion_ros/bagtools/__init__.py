# SPDX-License-Identifier: Apache-2.0
"""Offline rosbag2 tools (convert, info, fuse): rosbags only, no ROS installation needed."""

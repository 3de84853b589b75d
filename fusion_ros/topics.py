# SPDX-License-Identifier: Apache-2.0
"""Default topic names and frame ids: one home for the node, the bag tools and the tests.

Relative names in the node (so a namespace applies); these absolute forms are what a node in
the root namespace uses, and what the bag tools write.
"""

THERMAL_TOPIC = '/thermal/image_raw'
RGB_TOPIC = '/rgb/image_raw'
THERMAL_INFO_TOPIC = '/thermal/camera_info'
RGB_INFO_TOPIC = '/rgb/camera_info'
FUSED_TOPIC = '/fused/image_raw'
FUSED_INFO_TOPIC = '/fused/camera_info'
ENHANCED_TOPIC = '/enhanced/image_raw'
ENHANCED_INFO_TOPIC = '/enhanced/camera_info'
DAY_TOPIC = '/illumination/day_probability'
NIGHT_TOPIC = '/illumination/is_night'
DETECTIONS_TOPIC = '/detections'
DETECTIONS_IMAGE_TOPIC = '/detections/image'
DETECTIONS_JSON_TOPIC = '/detections/json'
DIAG_TOPIC = '/diagnostics'

THERMAL_FRAME = 'thermal_camera'
RGB_FRAME = 'rgb_camera'

# what the nodes publish, by topic: recorded by the demo, the bringup and the tests
FUSION_OUTPUTS = {
    FUSED_TOPIC: 'sensor_msgs/msg/Image',
    ENHANCED_TOPIC: 'sensor_msgs/msg/Image',
    FUSED_INFO_TOPIC: 'sensor_msgs/msg/CameraInfo',
    ENHANCED_INFO_TOPIC: 'sensor_msgs/msg/CameraInfo',
    DAY_TOPIC: 'std_msgs/msg/Float32',
    NIGHT_TOPIC: 'std_msgs/msg/Bool',
    DIAG_TOPIC: 'diagnostic_msgs/msg/DiagnosticArray',
}
DETECTOR_OUTPUTS = {
    DETECTIONS_IMAGE_TOPIC: 'sensor_msgs/msg/Image',
    DETECTIONS_JSON_TOPIC: 'std_msgs/msg/String',
}


def relative(topic: str) -> str:
    """The name a node uses for ``topic`` so that its namespace applies
    (``/fused/image_raw`` -> ``fused/image_raw``)."""
    return topic.lstrip('/')


def compressed(topic: str) -> str:
    """image_transport's name of the compressed stream of ``topic``."""
    return f'{topic}/compressed'


def camera_info_topic(image_topic: str) -> str:
    """The CameraInfo topic beside an image topic (``rgb/image_raw`` -> ``rgb/camera_info``),
    as image_transport's CameraPublisher names it."""
    head, _, _ = image_topic.rstrip('/').rpartition('/')
    return f'{head}/camera_info' if head else 'camera_info'

# SPDX-License-Identifier: Apache-2.0
"""The fusion node's output publishers (lifecycle), created and destroyed together, and the
one call that publishes a fused frame with everything that goes with it."""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Bool, Float32

from fusion_ros.engine import FusionResult
from fusion_ros.ros.fusion_params import FusionNodeConfig
from fusion_ros.ros.fusion_report import CameraInfoCache
from fusion_ros.ros.node_support import image_message, jpeg_message
from fusion_ros.ros.qos import make_qos
from fusion_ros.topics import (
    DAY_TOPIC,
    ENHANCED_INFO_TOPIC,
    ENHANCED_TOPIC,
    FUSED_INFO_TOPIC,
    FUSED_TOPIC,
    NIGHT_TOPIC,
    compressed,
    relative,
)

__all__ = ['FusionOutputs', 'listened']


def listened(pub: Any) -> bool:
    """A publisher that exists and has a subscriber (checked per frame: cheap)."""
    return pub is not None and pub.get_subscription_count() > 0


class FusionOutputs:
    """fused (+ camera_info, + compressed when asked), enhanced (+ camera_info) when
    ``publish_enhanced``, day probability and night state, all on the node's namespace."""

    def __init__(self, node: LifecycleNode, cfg: FusionNodeConfig) -> None:
        self.node = node
        qos = make_qos(*cfg.qos_output)

        def publisher(kind: Any, topic: str) -> Any:
            return node.create_lifecycle_publisher(kind, relative(topic), qos)

        self.fused = publisher(Image, FUSED_TOPIC)
        self.fused_info = publisher(CameraInfo, FUSED_INFO_TOPIC)
        self.day = publisher(Float32, DAY_TOPIC)
        self.night = publisher(Bool, NIGHT_TOPIC)
        self.enhanced = self.enhanced_info = self.compressed = None
        if cfg.publish_enhanced:
            self.enhanced = publisher(Image, ENHANCED_TOPIC)
            self.enhanced_info = publisher(CameraInfo, ENHANCED_INFO_TOPIC)
        if cfg.publish_compressed:
            self.compressed = publisher(CompressedImage, compressed(FUSED_TOPIC))
        self.jpeg_quality = cfg.jpeg_quality

    def wants_enhanced(self) -> bool:
        """Only the work someone asked for (image_proc's lazy nodes): no enhanced output, no
        enhancement head, while nobody subscribes to enhanced/image_raw."""
        return listened(self.enhanced)

    def publish(self, result: FusionResult, header: Any, night: bool | None,
                camera_infos: CameraInfoCache) -> None:
        """Every output of one frame, stamped with its RGB image's ``header``."""
        self.fused.publish(image_message(result.fused, header))
        self._camera_info(self.fused_info, header, camera_infos)
        if self.enhanced is not None and result.enhanced is not None:
            self.enhanced.publish(image_message(result.enhanced, header))
            self._camera_info(self.enhanced_info, header, camera_infos)
        if listened(self.compressed):
            self.compressed.publish(jpeg_message(result.fused, header, self.jpeg_quality))
        self.day.publish(Float32(data=result.day_probability))
        if night is not None:
            self.night.publish(Bool(data=night))

    @staticmethod
    def _camera_info(pub: Any, header: Any, camera_infos: CameraInfoCache) -> None:
        """The RGB camera's CameraInfo with the header of the image it describes (rviz
        Camera displays and image_proc pair them by stamp), sent when that info is here."""
        if listened(pub):
            camera_infos.deliver(header, pub.publish)

    def destroy(self) -> None:
        for pub in (self.fused, self.fused_info, self.day, self.night, self.enhanced,
                    self.enhanced_info, self.compressed):
            if pub is not None:
                self.node.destroy_lifecycle_publisher(pub)

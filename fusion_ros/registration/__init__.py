# SPDX-License-Identifier: Apache-2.0
"""Thermal-to-RGB registration, in one place: the homography estimate of ``fusion-ros
register`` (``estimate``, on ``features`` and ``geometry``), the warp every frame gets
(``warp``), the node's live watch of it (``monitor``) and its contact sheet (``plot``,
imported on its own: it draws)."""

from fusion_ros.registration.estimate import Registration, estimate_registration, spaced_indices
from fusion_ros.registration.features import edge_agreement, edge_features, grey_unit
from fusion_ros.registration.geometry import MODELS, corner_error, resize_homography
from fusion_ros.registration.monitor import RegistrationMonitor
from fusion_ros.registration.warp import IDENTITY, parse_homography, warp_thermal

__all__ = ['IDENTITY', 'MODELS', 'Registration', 'RegistrationMonitor', 'corner_error',
           'edge_agreement', 'edge_features', 'estimate_registration', 'grey_unit',
           'parse_homography', 'resize_homography', 'spaced_indices', 'warp_thermal']

# SPDX-License-Identifier: Apache-2.0
"""No-reference image-fusion quality metrics (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM, PSNR,
MSE, CC) in two conventions: ``tang`` (the benchmark MATLAB code behind the published tables)
and ``standard`` (textbook definitions)."""

from fusion_ros.metrics.fusion_metrics import (
    CONVENTIONS,
    METRICS,
    compute_metrics,
    to_grey_uint8,
)
from fusion_ros.metrics.pooled import POOLED_METRICS, SOURCE_CORRELATIONS, PooledScore

__all__ = ['CONVENTIONS', 'METRICS', 'POOLED_METRICS', 'SOURCE_CORRELATIONS', 'PooledScore',
           'compute_metrics', 'to_grey_uint8']

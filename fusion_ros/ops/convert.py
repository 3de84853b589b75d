# SPDX-License-Identifier: Apache-2.0
"""NumPy (message side) <-> torch (core side) image conversion, and thermal gain control.

Arrays are :math:`(H, W)` or :math:`(H, W, C)` in the message dtype; tensors are float32
:math:`(B, C, H, W)` in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from fusion_ros.errors import EncodingError, ShapeError

__all__ = ['array_to_tensor', 'luma_to_rgb_uint8', 'tensor_to_uint8', 'thermal_plane', 'to_host',
           'thermal_to_unit', 'visible_planes', 'visible_to_unit']


def thermal_plane(thermal: np.ndarray) -> np.ndarray:
    """The :math:`(H, W)` view of a single-channel thermal frame (``(H, W, 1)`` too).

    Raises:
        ShapeError: not a single-channel image.
    """
    if thermal.ndim == 3 and thermal.shape[2] == 1:
        thermal = thermal[..., 0]
    if thermal.ndim != 2:
        raise ShapeError(f'thermal image must be single-channel (H, W), got {thermal.shape}')
    return thermal


def visible_planes(visible: np.ndarray) -> np.ndarray:
    """A visible frame as grey :math:`(H, W)` or RGB :math:`(H, W, 3)` (``(H, W, 1)``: grey).

    Raises:
        ShapeError: any other shape.
    """
    if visible.ndim == 3 and visible.shape[2] == 1:
        visible = visible[..., 0]
    if not (visible.ndim == 2 or (visible.ndim == 3 and visible.shape[2] == 3)):
        raise ShapeError(f'visible image must be (H, W) or (H, W, 3), got {visible.shape}')
    return visible


def thermal_to_unit(
    thermal: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0
) -> np.ndarray:
    """Map a thermal frame to float32 [0, 1].

    8-bit frames (KAIST, LLVIP, ...) are divided by 255. 16-bit raw counts and float
    temperatures get a percentile stretch (automatic gain control): cv_bridge's plain
    x255/65535 scale turns 14-bit counts almost black. Non-finite pixels become 0.

    Args:
        thermal: :math:`(H, W)` uint8, uint16 or float.
        low_pct: percentile mapped to 0 for 16-bit and float input.
        high_pct: percentile mapped to 1.

    Raises:
        ShapeError: not a single-channel image.
        EncodingError: unsupported dtype, or no finite pixel at all.
    """
    thermal = thermal_plane(thermal)
    if thermal.dtype == np.uint8:
        return thermal.astype(np.float32) * np.float32(1.0 / 255.0)
    if thermal.dtype not in (np.uint16, np.float32, np.float64):
        raise EncodingError(f'unsupported thermal dtype {thermal.dtype}')
    values = thermal.astype(np.float32)
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    sample = values if all_finite else values[finite]
    if sample.size == 0:
        raise EncodingError('thermal image has no finite pixel')
    # A strided subsample keeps the percentiles exact enough and 16x cheaper.
    lo, hi = np.percentile(sample.reshape(-1)[::16], (low_pct, high_pct))
    scale = np.float32(1.0 / max(float(hi - lo), 1e-6))
    out = np.clip((values - np.float32(lo)) * scale, 0.0, 1.0)
    if not all_finite:
        out[~finite] = 0.0
    return out


def visible_to_unit(visible: np.ndarray) -> np.ndarray:
    """Map a visible frame (RGB :math:`(H, W, 3)` or grey :math:`(H, W)`) to float32 [0, 1]."""
    visible = visible_planes(visible)
    if visible.dtype == np.uint8:
        return visible.astype(np.float32) * np.float32(1.0 / 255.0)
    if visible.dtype == np.uint16:
        return visible.astype(np.float32) * np.float32(1.0 / 65535.0)
    if visible.dtype in (np.float32, np.float64):
        if not np.isfinite(visible).all():
            raise EncodingError('visible image contains NaN or inf')
        return np.clip(visible.astype(np.float32), 0.0, 1.0)
    raise EncodingError(f'unsupported visible dtype {visible.dtype}')


def array_to_tensor(arr: np.ndarray, device: torch.device | str = 'cpu') -> torch.Tensor:
    """float32 or uint8 :math:`(H, W)` or :math:`(H, W, C)` -> float32 :math:`(1, C, H, W)`
    on ``device``, in [0, 1] for uint8. uint8 crosses as uint8 (a quarter of float32's bytes),
    from pinned memory when the device is CUDA (so ``non_blocking`` really overlaps), and is
    scaled there exactly as :func:`visible_to_unit` scales on the host."""
    device = torch.device(device)
    if arr.dtype == np.uint8:
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if device.type == 'cuda':
            t = t.pin_memory()
    else:
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    t = t.to(device, non_blocking=True)
    t = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    t = t.unsqueeze(0)
    return t.float().mul_(1.0 / 255.0) if t.dtype == torch.uint8 else t


def luma_to_rgb_uint8(y: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Luma :math:`(B, 1, H, W)` plus chroma ``offsets`` :math:`(B, H, W, 3)` (see
    :func:`fusion_ros.ops.color.luma_and_offsets`) -> uint8 RGB :math:`(B, H, W, 3)` on
    the same device, clamped and rounded as :func:`tensor_to_uint8`. Built channels last,
    so each image on the host is a view, no permute and no copy."""
    rgb = torch.add(offsets, y.float()[:, 0, :, :, None]).clamp_(0.0, 1.0)
    if rgb.device.type == 'cpu':
        # OpenCV's saturating scale writes the bytes in one pass (torch's mul, round and
        # cast took three); it rounds half to even as torch.round does
        planes = rgb.numpy()
        out = np.empty(planes.shape, np.uint8)
        for src, dst in zip(planes, out):
            cv2.convertScaleAbs(src, dst=dst, alpha=255.0)
        return torch.from_numpy(out)
    return rgb.mul_(255.0).round_().to(torch.uint8)


def to_host(*tensors: torch.Tensor, pack: bool | None = None) -> list[torch.Tensor]:
    """The tensors on the CPU through ONE device-to-host copy: each transfer from a GPU
    waits for the stream and pays a fixed latency, and the engine returns two images and
    the day probability per frame. The tensors' bytes are packed into one uint8 buffer,
    copied, and viewed back with their dtypes and shapes. CPU tensors come back as they are
    (``pack=True`` packs anyway: the round trip is the same code on every device)."""
    if pack is None:
        pack = any(t.device.type != 'cpu' for t in tensors)
    if not pack:
        return [t.cpu() for t in tensors]
    flat = [t.contiguous().reshape(-1).view(torch.uint8) for t in tensors]
    host = torch.cat(flat).cpu()
    out, start = [], 0
    for t, f in zip(tensors, flat):
        out.append(host[start:start + f.numel()].view(t.dtype).view(t.shape))
        start += f.numel()
    return out


def tensor_to_uint8(t: torch.Tensor) -> np.ndarray:
    """:math:`(1, C, H, W)` in [0, 1] -> uint8 :math:`(H, W)` (C = 1) or :math:`(H, W, C)`."""
    t = (t[0].float().clamp(0.0, 1.0) * 255.0).round_().to(torch.uint8).cpu()
    arr = t[0] if t.shape[0] == 1 else t.permute(1, 2, 0)
    return np.ascontiguousarray(arr.numpy())

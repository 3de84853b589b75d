# SPDX-License-Identifier: Apache-2.0
"""``FusionEngine``: arrays in, fused array out.

Owns everything around the network: thermal gain control, normalisation, YCbCr (fuse Y,
keep the visible chroma), padding to the model's size multiple, device and precision
choice, ``inference_mode``. Knows nothing of ROS.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fusion_ros.defaults import DEFAULT_BACKEND, DEFAULT_MODEL, DEFAULT_PRECISION, THERMAL_AGC
from fusion_ros.engine.device import keep_fp32, resolve_device, use_fast_cuda_kernels
from fusion_ros.engine.outputs import FusionResult, frames_to_host
from fusion_ros.engine.precision import (
    Precision,
    model_gains,
    resolve_precision,
)
from fusion_ros.engine.runtimes import RuntimeNetwork, load_network, onnx_for, resolve_backend
from fusion_ros.errors import ConfigError, ShapeError, WeightsError
from fusion_ros.models import FusionModel, build_model
from fusion_ros.ops.color import COLOUR_TRANSFORMS, luma_and_offsets
from fusion_ros.ops.convert import (
    array_to_tensor,
    thermal_plane,
    thermal_to_unit,
    visible_planes,
    visible_to_unit,
)
from fusion_ros.ops.enhance import gamma_enhance
from fusion_ros.ops.illumination import luminance_day_probability
from fusion_ros.registration import parse_homography, warp_thermal
from fusion_ros.threads import (
    ThreadGovernor,
    Threads,
    apply_threads,
    resolve_threads,
    set_thread_count,
)

__all__ = ['DEFAULT_MODEL', 'FusionEngine', 'FusionResult', 'resolve_device']


class FusionEngine:
    """Run a registered fusion model on thermal + visible arrays.

    Args:
        model: registry name (see ``fusion_ros.models.list_models()``).
        weights: checkpoint path (or release folder), loaded with ``weights_only=True``.
        weights_format: ``native`` or a release format the model reads; None detects it.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        precision: ``auto`` (default: the fastest faithful format here, see
            ``engine.precision``), ``fp32``, ``fp16`` (CUDA only) or ``bf16``.
        thermal_agc: percentiles (low, high) of the 16-bit/float thermal stretch.
        model_options: keyword arguments of the model entrypoint.
        random_init: run a model that needs weights without them (tests, benchmarks).
        channels_last: store activations NHWC; None (default): whenever the resolved
            precision is bf16/fp16, whose fast CPU and GPU kernels are NHWC.
        compile: run the network through ``torch.compile``; compilation happens in
            :meth:`warmup`. Where it cannot work (no C++ compiler, an unsupported op) the
            engine runs eager and ``compile_error`` says why.
        homography: 3x3 thermal-to-RGB homography (9 numbers, row-major) applied to every
            thermal frame before fusion; also brings thermal to the visible size. None or
            identity: frames must already be registered.
        enhanced: also return the enhanced visible image: the model's enhancement head, or
            for models without one the weight-free gamma lift (``ops.enhance``). Costs a
            second colour conversion; with False, models may skip computing it.
        backend: what runs the network: ``torch``, ``openvino`` or ``onnxruntime`` (the
            network exported to ONNX on first use, cached: ``engine.runtimes``), or
            ``auto`` (default): OpenVINO for the heavy models on CPUs (bf16 only with AMX),
            torch otherwise. ``backend_note`` says why auto chose torch, if it did.
        threads: CPU threads of torch, OpenCV and the runtime: ``auto`` (every usable CPU,
            and in torch fewer while other processes keep CPUs busy: a
            ``fusion_ros.threads.ThreadGovernor`` fed each frame's model time) or a count;
            process-wide. None (default) leaves the process's setting as it is (a library
            call changes nothing behind its caller's back; the nodes and the CLIs pass
            ``auto``). ``threads_text`` says what runs now.

    Raises:
        WeightsError: the model needs weights, none were given and ``random_init`` is False.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        weights: Path | str | None = None,
        weights_format: str | None = None,
        device: str = 'auto',
        precision: str = DEFAULT_PRECISION,
        thermal_agc: tuple[float, float] = THERMAL_AGC,
        model_options: dict[str, Any] | None = None,
        random_init: bool = False,
        channels_last: bool | None = None,
        compile: bool = False,  # noqa: A002 - the torch.compile switch, named as the node parameter
        enhanced: bool = True,
        homography: Sequence[float] | np.ndarray | None = None,
        backend: str = DEFAULT_BACKEND,
        threads: int | str | None = None,
    ) -> None:
        if threads is None:
            self.threads = Threads(torch.get_num_threads(), "the process's setting")
        else:
            self.threads = resolve_threads(threads)
            apply_threads(self.threads)  # before a runtime sizes its own pool from torch's
        self.device = resolve_device(device)
        if self.device.type == 'cuda':
            use_fast_cuda_kernels()
        # off the CPU, 8-bit frames cross as uint8 and are scaled on the device; on the CPU
        # the host conversion is the same work without a second pass
        self.upload_uint8 = self.device.type != 'cpu'
        resolve_precision(precision, self.device)  # a bad name fails before the model loads
        low, high = thermal_agc
        if not 0.0 <= low < high <= 100.0:
            raise ConfigError(f'thermal_agc percentiles must satisfy 0 <= low < high <= 100, '
                              f'got {thermal_agc!r}')
        self.thermal_agc = (float(low), float(high))
        self.homography = parse_homography(homography)
        self.model_name = model
        self.model: FusionModel = build_model(
            model, weights=weights, device=self.device, weights_format=weights_format,
            pretrained=not random_init, **(model_options or {})
        )
        self.resolved: Precision = resolve_precision(
            precision, self.device, model_gains(self.model, self.device), channels_last)
        self.backend, self.backend_note = resolve_backend(backend, self.model, self.device)
        if self.backend == 'onnxruntime' and self.resolved.name != 'fp32':
            if precision != 'auto':
                raise ConfigError(f'backend onnxruntime runs fp32 on the CPU, not '
                                  f'{precision}: use precision fp32 or auto, or backend '
                                  'openvino for bf16')
            self.resolved = Precision('fp32', False, precision)
        self.precision = self.resolved.name  # never 'auto'
        self.network: RuntimeNetwork | None = None
        self.onnx_path: Path | None = None
        # one exported graph per answer of model.graph_options (FastFusion's radius by size)
        self._graphs: dict[tuple, tuple[RuntimeNetwork, Path]] = {}
        self._graph_key: tuple = ()
        self._export = {'enhanced': enhanced, 'options': model_options}
        if self.backend != 'torch':
            # the torch model stays fp32 (exported as such; PIAFusion's classifier runs it);
            # exported now for the smallest frames, so a model that cannot be fails here
            small = max(self.model.min_size, self.model.size_multiple)
            self._network_for(small, small)
            self.resolved = Precision(self.resolved.name, False, self.resolved.requested,
                                      self.resolved.emulated)
        # torch on the CPU: adapt the threads to contention (runtimes keep their own pools)
        self.governor = (ThreadGovernor(self.threads.count, set_thread_count)
                         if self.threads.adaptive and self.network is None
                         and self.device.type == 'cpu' else None)
        self.dtype = self.resolved.dtype if self.network is None else torch.float32
        self.channels_last = self.resolved.channels_last
        self.model.to(dtype=self.dtype)
        if self.dtype != torch.float32:
            keep_fp32(self.model, self.model.fp32_modules)
        self.want_enhanced = enhanced
        self.model.return_enhanced = enhanced
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.compile_error: str | None = None
        self._forward: Any = self.model
        if compile:
            self._forward = self._compiled()
        self._to_ycbcr = COLOUR_TRANSFORMS[self.model.colour][0]
        if self.model.needs_weights and self.model.weights_source is None and not random_init:
            raise WeightsError(
                f'model {model!r} needs trained weights: pass weights=PATH (the weights '
                'parameter of the node, --weights on the CLI; models/README.md says where '
                "each model's weights come from), or random_init=True to run it untrained"
            )

    def _compiled(self) -> Any:
        try:
            import torch._dynamo

            return torch.compile(self.model)
        except Exception as err:  # noqa: BLE001 - any failure means: run eager
            self.compile_error = f'torch.compile unavailable: {err}'
            return self.model

    @property
    def runtime(self) -> str:
        """What runs the network: ``torch``, or a runtime and its version
        (``openvino 2026.4.1``)."""
        if self.network is None:
            return 'torch'
        text = f'{self.network.name} {self.network.version}'
        if (limit := self.model.runtime_max_pixels) is not None:
            text += f' (torch fp32 above {limit:,} pixels)'
        return text

    def runtime_for(self, width: int, height: int) -> str:
        """What runs the network on frames of this size (``runtime_max_pixels``)."""
        if self.network is None:
            return 'torch'
        m = self.model.size_multiple
        if not self._runtime_takes(height + (-height) % m, width + (-width) % m):
            return f'torch (above the {self.network.name} limit of ' \
                   f'{self.model.runtime_max_pixels:,} pixels)'
        return f'{self.network.name} {self.network.version}'

    @property
    def threads_text(self) -> str:
        """The CPU threads the model runs with now, and how they were chosen."""
        return self.governor.describe() if self.governor else self.threads.describe()

    @property
    def compiled(self) -> bool:
        """True while the network runs through ``torch.compile``."""
        return self._forward is not self.model

    def describe(self) -> str:
        """``'fastfusion' on cpu, bf16 channels_last (auto), compiled``: for logs, reports;
        ``..., openvino 2026.4.1`` when a runtime runs the network."""
        text = f'{self.model_name!r} on {self.device}, {self.resolved.describe()}'
        if self.network is not None:
            return f'{text}, {self.runtime}'
        if self.compiled:
            return text + ', compiled'
        return text + (f', eager ({self.compile_error})' if self.compile_error else '')

    def fuse(self, thermal: np.ndarray, visible: np.ndarray,
             enhanced: bool | None = None) -> FusionResult:
        """Fuse one pair.

        Args:
            thermal: :math:`(H, W)` uint8, uint16 or float (16-bit and float get gain control).
            visible: RGB :math:`(H, W, 3)` or grey :math:`(H, W)`, uint8/uint16/float.
            enhanced: False skips the enhanced output (and the model's head) for this call,
                e.g. while nobody subscribes to it; None: as constructed.

        Raises:
            ShapeError: sizes differ or channel counts are wrong.
            EncodingError: unsupported dtype or non-finite visible pixels.
        """
        return self.fuse_batch([(thermal, visible)], enhanced)[0]

    def fuse_batch(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                   enhanced: bool | None = None) -> list[FusionResult]:
        """Fuse several pairs in one forward pass (what makes a GPU fast offline).

        Pairs of different sizes or colourness are run one by one. ``inference_ms`` of each
        result is the batch's wall time divided by its size. Raises as :meth:`fuse`.
        """
        start = time.perf_counter()
        units = [self._to_unit(thermal, visible) for thermal, visible in pairs]
        if len({(ir.shape, vi.shape) for ir, vi in units}) > 1:
            return [self._fuse_units([u], time.perf_counter(), enhanced)[0] for u in units]
        return self._fuse_units(units, start, enhanced) if units else []

    def _to_unit(self, thermal: np.ndarray, visible: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        if self.homography is not None:
            if thermal.ndim != 2:
                raise ShapeError(f'thermal must be one channel (H, W), got {thermal.shape}')
            thermal = warp_thermal(thermal, self.homography, visible.shape[1::-1])
        if self.upload_uint8 and thermal.dtype == np.uint8 and visible.dtype == np.uint8:
            # 8-bit frames go to the accelerator as they are and are scaled there
            # (ops.convert.array_to_tensor); the checks are the host conversions' own
            ir, vi = thermal_plane(thermal), visible_planes(visible)
        else:
            ir = thermal_to_unit(thermal, *self.thermal_agc)
            vi = visible_to_unit(visible)
        if ir.shape[:2] != vi.shape[:2]:
            raise ShapeError(
                f'thermal {ir.shape[1]}x{ir.shape[0]} and visible {vi.shape[1]}x{vi.shape[0]} '
                'differ in size; register them first (registration.homography)'
            )
        return ir, vi

    def _fuse_units(self, units: list[tuple[np.ndarray, np.ndarray]], start: float,
                    enhanced: bool | None = None) -> list[FusionResult]:
        # enhanced=False for one call (nobody listens to it now) skips the model's head too
        want = self.want_enhanced if enhanced is None else enhanced and self.want_enhanced
        self.model.return_enhanced = want
        with torch.inference_mode():
            ir_t = torch.cat([array_to_tensor(ir, self.device) for ir, _ in units])
            vi_t = torch.cat([array_to_tensor(vi, self.device) for _, vi in units])
            colour = vi_t.shape[1] == 3
            ycbcr = offsets = None
            if colour and self.model.colour == 'bt601_full':
                y, offsets = luma_and_offsets(vi_t)  # Y and the recolouring in one product
            elif colour:
                ycbcr = self._to_ycbcr(vi_t)
                y = ycbcr[:, :1]
            else:
                y = vi_t
            prepared = time.perf_counter()
            out = self._run(ir_t, y)
            ran = time.perf_counter()
            if self.governor is not None:  # on the thread that runs the model, as it must
                self.governor.frame((ran - prepared) * 1e3 / len(units))
            day = out.day_probability
            if day is None and colour:  # a classifier of the model's own (PIAFusion)
                rgb = vi_t.to(self.dtype)
                day = self.model.illumination(
                    rgb.contiguous(memory_format=torch.channels_last) if self.channels_last
                    else rgb)
            if day is None:
                day = luminance_day_probability(y)
            lifted = None
            if want:  # models without an enhancement head get the weight-free gamma lift
                lifted = out.enhanced if out.enhanced is not None else gamma_enhance(y)
            fused, enhanced, days = frames_to_host(out.fused, lifted, day, self.model.colour,
                                                   ycbcr=ycbcr, offsets=offsets)
            results = [
                FusionResult(fused=fused[i], day_probability=float(days[i]),
                             enhanced=None if enhanced is None else enhanced[i],
                             inference_ms=0.0)
                for i in range(len(units))
            ]
        done = time.perf_counter()
        per_frame = (done - start) * 1e3 / len(units)
        stages = {name: (b - a) * 1e3 / len(units) for name, a, b in (
            ('prepare', start, prepared), ('model', prepared, ran), ('finish', ran, done))}
        for r in results:
            r.inference_ms = per_frame
            r.stages_ms = dict(stages)
        return results

    def _run(self, ir: torch.Tensor, y: torch.Tensor) -> Any:
        h, w = ir.shape[-2:]
        m, least = self.model.size_multiple, self.model.min_size
        pad_h = max(h + (-h) % m, least + (-least) % m) - h
        pad_w = max(w + (-w) % m, least + (-least) % m) - w
        if pad_h or pad_w:
            # replicate, not reflect: reflect fails when the pad exceeds the image size
            ir = F.pad(ir, (0, pad_w, 0, pad_h), mode='replicate')
            y = F.pad(y, (0, pad_w, 0, pad_h), mode='replicate')
        ir, y = ir.to(self.dtype), y.to(self.dtype)
        if self.channels_last:
            ir = ir.contiguous(memory_format=torch.channels_last)
            y = y.contiguous(memory_format=torch.channels_last)
        out = self.run_model(ir, y)
        if pad_h or pad_w:
            out.fused = out.fused[..., :h, :w]
            if out.enhanced is not None:
                out.enhanced = out.enhanced[..., :h, :w]
        return out

    def run_model(self, ir: torch.Tensor, y: torch.Tensor) -> Any:
        """The network's forward on ready tensors (compiled when it is, or in the runtime
        that runs it), no pre/post work."""
        if self.network is not None and self._runtime_takes(*ir.shape[-2:]):
            network = self._network_for(*ir.shape[-2:])
            return network(ir.contiguous(), y.contiguous())
        if self.network is not None:  # a frame larger than the runtime's graph may hold
            return self.model(ir, y)
        if not self.compiled:
            return self.model(ir, y)
        try:
            return self._forward(ir, y)
        except Exception as err:  # noqa: BLE001 - a graph that fails to compile runs eager
            self.compile_error = f'torch.compile failed, running eager: {type(err).__name__}: ' \
                f'{str(err).splitlines()[0] if str(err) else ""}'[:300]
            self._forward = self.model
            return self.model(ir, y)

    def _network_for(self, height: int, width: int) -> RuntimeNetwork:
        """The runtime's graph for (padded) H x W frames, exported and loaded the first time
        the model's graph options take this value; it becomes ``network``."""
        key = tuple(sorted(self.model.graph_options(height, width).items()))
        if self.network is not None and key == self._graph_key:
            return self.network
        if key not in self._graphs:
            path, outputs, _ = onnx_for(self.model, self.model_name, size=(width, height),
                                        **self._export)
            network = load_network(self.backend, path, outputs, self.resolved.name,
                                   self.threads.count)
            self._graphs[key] = (network, path)
        self._graph_key = key
        self.network, self.onnx_path = self._graphs[key]
        return self.network

    def _runtime_takes(self, height: int, width: int) -> bool:
        limit = self.model.runtime_max_pixels
        return limit is None or height * width <= limit

    def warmup(self, width: int, height: int, colour: bool = True, runs: int = 1,
               calibrate_s: float = 5.0) -> None:
        """Run ``runs`` dummy frames so the first real frame does not pay for allocator and
        kernel selection (cuDNN autotuning, oneDNN primitive caches) or ``torch.compile``.
        Call it on the thread that runs inference, at the size of the frames to come.

        With threads ``auto`` it then runs frames (for at most ``calibrate_s``) until the
        thread governor has timed its first probe, so a machine already busy is found before
        the first real frame, not during the stream; the first frame, slowed by set-up, is
        not timed for it.
        """
        thermal = np.zeros((height, width), np.uint8)
        visible = np.zeros((height, width, 3) if colour else (height, width), np.uint8)
        governor, self.governor = self.governor, None
        if governor is not None:
            governor.begin()
        try:
            self.fuse(thermal, visible)
        finally:
            self.governor = governor
        for _ in range(runs - 1):
            self.fuse(thermal, visible)
        deadline = time.monotonic() + calibrate_s
        while governor is not None and not governor.calibrated and time.monotonic() < deadline:
            self.fuse(thermal, visible)

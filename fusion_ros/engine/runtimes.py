# SPDX-License-Identifier: Apache-2.0
"""Run a fusion network outside eager PyTorch: exported once to ONNX, then run by OpenVINO
(CPUs) or ONNX Runtime, as robot deployments do.

Only the network call moves: gain control, registration, colour, padding, illumination and
batching stay the engine's. The ONNX file is exported on first use into a cache
(``$FUSION_ROS_CACHE``, default ``~/.cache/fusion_ros``), keyed by model, options, weights,
outputs, opset, the torch version that traced it and the source of the model and exporter,
and written atomically; an entry that does not load or carries another key is rebuilt, never
used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fusion_ros.defaults import BACKENDS
from fusion_ros.errors import ConfigError
from fusion_ros.models import FusionModel, FusionOutput

__all__ = ['BACKENDS', 'RUNTIMES', 'RuntimeNetwork', 'cache_dir', 'code_hash', 'export_onnx',
           'fix_onnx_size', 'fixed_for', 'load_network', 'onnx_for', 'resolve_backend',
           'runtime_missing', 'save_openvino', 'weights_hash']

RUNTIMES = ('openvino', 'onnxruntime')
OPSET = 18
INPUTS = ('thermal', 'visible_y')
OUTPUTS = ('fused', 'enhanced', 'day_probability')
# the pip package each runtime comes from
_PACKAGES = {'openvino': 'openvino', 'onnxruntime': 'onnxruntime'}
_export_lock = threading.Lock()  # the tracer is not re-entrant


def runtime_missing(runtime: str) -> str | None:
    """Why ``runtime`` cannot run here (its package is not installed), or None."""
    try:
        importlib.metadata.version(_PACKAGES[runtime])
    except importlib.metadata.PackageNotFoundError:
        return f'backend {runtime!r} needs the {_PACKAGES[runtime]} package: ' \
               f'pip install {_PACKAGES[runtime]}'
    return None


def resolve_backend(backend: str, model: FusionModel, device: torch.device
                    ) -> tuple[str, str | None]:
    """``(backend, note)``: what ``auto`` means for this model here, and why, once.

    ``auto`` runs OpenVINO for the heavy models (``FusionModel.auto_runtime``) on a CPU,
    where it was faster than torch on every CPU measured (fp32 1.7-2.5x on an EPYC without
    AMX; bf16 11x on a Xeon with AMX: docs/BENCHMARKS.md), and torch otherwise: on a GPU
    torch is the runtime installed, and FastFusion's node fused fewer pairs beside a busy
    loop in OpenVINO than in torch (an AVX2-only EPYC: docs/BENCHMARKS.md). An explicit
    runtime that is missing is an error naming the package.
    """
    if backend not in BACKENDS:
        raise ConfigError(f'unknown backend {backend!r}; use one of {", ".join(BACKENDS)}')
    if backend == 'torch':
        return 'torch', None
    if backend != 'auto':
        if device.type != 'cpu':
            raise ConfigError(f'backend {backend!r} runs on the CPU here; use backend torch '
                              f'on {device}')
        if (missing := runtime_missing(backend)) is not None:
            raise ConfigError(missing)
        return backend, None
    if device.type != 'cpu' or not getattr(model, 'auto_runtime', False):
        return 'torch', None
    if (missing := runtime_missing('openvino')) is not None:
        return 'torch', f'auto runs torch: {missing}'
    return 'openvino', None


def weights_hash(model: nn.Module) -> str:
    """A short digest of the model's tensors (names, dtypes, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to('cpu').contiguous()
        digest.update(f'{name}:{t.dtype}:{tuple(t.shape)}'.encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where exported networks are kept: ``$FUSION_ROS_CACHE`` or ``~/.cache/fusion_ros``."""
    root = os.environ.get('FUSION_ROS_CACHE') or Path.home() / '.cache' / 'fusion_ros'
    return Path(root) / 'onnx'


class _Exportable(nn.Module):
    """The model's forward as a tuple of the named outputs the exporter can trace."""

    def __init__(self, model: FusionModel, outputs: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.outputs = tuple(outputs)

    def forward(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(thermal, visible_y)
        return tuple(getattr(out, name) for name in self.outputs)


def _probe_outputs(model: FusionModel, enhanced: bool) -> list[str]:
    size = max(model.size_multiple, model.min_size, 16)
    size += (-size) % model.size_multiple
    x = torch.rand(1, 1, size, size)
    model.return_enhanced = enhanced
    with torch.inference_mode():
        out = model(x, x)
    return [name for name in OUTPUTS if getattr(out, name) is not None
            and (enhanced or name != 'enhanced')]


def export_onnx(model: FusionModel, path: Path, *, enhanced: bool,
                metadata: dict[str, str] | None = None) -> list[str]:
    """Export ``model`` (fp32, CPU) to ONNX at ``path``: inputs ``thermal`` and
    ``visible_y`` :math:`(B, 1, H, W)` with dynamic batch, height and width; outputs
    ``fused`` and, where the model has them, ``enhanced`` and ``day_probability``.
    ``metadata`` goes into the file's metadata_props, with ``fusion_ros.outputs`` (the
    output names, comma-separated). Returns the output names.

    Raises:
        ConfigError: the exporter cannot trace the model (names the model and the error).
    """
    import onnx

    _check_exportable(model)
    _check_one_graph(model)
    training = model.training
    model.eval()
    try:
        names = _probe_outputs(model, enhanced)
        size = max(2 * model.size_multiple, model.min_size, 32)
        size += (-size) % model.size_multiple
        sample = (torch.rand(1, 1, size, size + model.size_multiple),) * 2
        axes = {0: 'batch', 2: 'height', 3: 'width'}
        wrapper = _Exportable(model, names).eval()
        with _export_lock, torch.no_grad(), warnings.catch_warnings():
            # the tracer's notes on Python branches it fixed: the engine pads every frame to
            # the model's size multiple, so those branches take the traced path on any size
            warnings.simplefilter('ignore')
            torch.onnx.export(wrapper, sample, str(path), input_names=list(INPUTS),
                              output_names=names, opset_version=OPSET, dynamo=False,
                              dynamic_axes={n: axes for n in (*INPUTS, *names)})
    except Exception as err:  # any tracer failure: say which model; the caller keeps torch
        first = str(err).splitlines()[0] if str(err) else ''
        raise ConfigError(f'cannot export {type(model).__name__} to ONNX: '
                          f'{type(err).__name__}: {first}'[:400]) from err
    finally:
        model.train(training)  # the exporter leaves its wrapper's (and so our) mode changed
    proto = onnx.load(str(path))
    for key, value in {**(metadata or {}), 'fusion_ros.outputs': ','.join(names)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return names


def _check_exportable(model: FusionModel) -> None:
    if model.export_blocker:
        raise ConfigError(f'cannot export {type(model).__name__} to ONNX: '
                          f'{model.export_blocker}; use backend torch')


def _check_one_graph(model: FusionModel) -> None:
    """Refuse a model whose forward chooses from the frame size what a graph would fix."""
    small = max(model.min_size, model.size_multiple)
    large = model.graph_options(4096, 4096)
    if model.graph_options(small, small) != large:
        raise ConfigError(
            f'{type(model).__name__} chooses from the frame size ({", ".join(large)}) and a '
            'graph holds one choice: export it for a size (--size WxH), or fix the option '
            '(FastFusion: --option radius_reference=0)')


@contextmanager
def fixed_for(model: FusionModel, size: tuple[int, int] | None) -> Iterator[dict[str, Any]]:
    """``model`` with what its forward chooses from the frame size fixed for ``size``
    (W, H; :meth:`FusionModel.graph_options`), restored on exit; yields the options set.

    Raises:
        ConfigError: no ``size`` for a model whose graph depends on it.
    """
    if size is None:
        _check_one_graph(model)
        yield {}
        return
    options = model.graph_options(size[1], size[0])
    before = {key: getattr(model, key) for key in options}
    for key, value in options.items():
        setattr(model, key, value)
    try:
        yield options
    finally:
        for key, value in before.items():
            setattr(model, key, value)


def code_hash(model: nn.Module) -> str:
    """A short digest of the source of the modules that define ``model``'s layers (its own
    and its building blocks', e.g. ``dfvo_parts``) and of this exporter: a changed forward
    (a fix, an upgrade of the package) must not reuse a graph traced from the old."""
    digest = hashlib.sha256()
    files = {inspect.getsourcefile(type(m)) for m in model.modules()}
    for source in (*sorted(f for f in files if f), __file__):
        if source and os.path.isfile(source):
            digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]


def _entry_key(model: nn.Module, model_name: str, options: dict[str, Any], digest: str,
               enhanced: bool) -> str:
    text = json.dumps({'model': model_name, 'options': options, 'weights': digest,
                       'enhanced': enhanced, 'opset': OPSET, 'torch': torch.__version__,
                       'code': code_hash(model)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read_entry(path: Path, key: str) -> dict[str, str] | None:
    """The metadata of a cached file that loads whole and carries ``key``; else None."""
    import onnx

    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception:  # noqa: BLE001 - truncated, damaged or foreign: rebuild it
        return None
    meta = {p.key: p.value for p in proto.metadata_props}
    return meta if meta.get('fusion_ros.key') == key else None


def onnx_for(model: FusionModel, model_name: str, *, enhanced: bool,
             options: dict[str, Any] | None = None, root: Path | None = None,
             size: tuple[int, int] | None = None) -> tuple[Path, list[str], bool]:
    """The cached ONNX file of ``model`` as it is now (its weights and options); exported
    first when missing, damaged or stale. Returns ``(path, output names, exported now)``.

    ``size`` (W, H): the frames the graph is for, where the model chooses from the frame
    size (:func:`fixed_for`); the graph's height and width stay dynamic.
    """
    _check_exportable(model)
    with fixed_for(model, size) as fixed:
        return _onnx_for(model, model_name, enhanced, {**(options or {}), **fixed}, root)


def _onnx_for(model: FusionModel, model_name: str, enhanced: bool, options: dict[str, Any],
              root: Path | None) -> tuple[Path, list[str], bool]:
    digest = weights_hash(model)
    key = _entry_key(model, model_name, options, digest, enhanced)
    folder = root or cache_dir()
    path = folder / f'{model_name}-{key}.onnx'
    if path.is_file() and (meta := _read_entry(path, key)) is not None:
        return path, meta['fusion_ros.outputs'].split(','), False
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{model_name}-', suffix='.onnx', dir=folder)
    os.close(fd)
    try:
        metadata = {'fusion_ros.key': key, 'fusion_ros.model': model_name,
                    'fusion_ros.options': json.dumps(options, sort_keys=True, default=str),
                    'fusion_ros.weights_sha256': digest,
                    'fusion_ros.colour': model.colour,
                    'fusion_ros.size_multiple': str(model.size_multiple),
                    'fusion_ros.min_size': str(model.min_size),
                    'fusion_ros.opset': str(OPSET)}
        names = export_onnx(model, Path(tmp), enhanced=enhanced, metadata=metadata)
        os.replace(tmp, path)  # readers see the old entry or the whole new one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path, names, True


def fix_onnx_size(src: Path, dst: Path, size: tuple[int, int]) -> None:
    """Write ``src`` to ``dst`` with inputs and outputs fixed at ``size`` (W, H), batch 1."""
    import onnx
    from onnx.tools import update_model_dims

    w, h = size
    proto = onnx.load(str(src))
    dims = {n.name: [1, 1, h, w] for n in proto.graph.input}
    outs = {n.name: [1] if n.name == 'day_probability' else [1, 1, h, w]
            for n in proto.graph.output}
    onnx.save(update_model_dims.update_inputs_outputs_dims(proto, dims, outs), str(dst))


def save_openvino(src: Path, dst: Path, size: tuple[int, int] | None = None) -> None:
    """Convert the ONNX file ``src`` to OpenVINO IR at ``dst`` (.xml + .bin), its metadata
    kept as runtime info; ``size`` (W, H) fixes the input shape."""
    import onnx
    import openvino as ov

    core = ov.Core()
    network = core.read_model(str(src))
    if size is not None:
        w, h = size
        network.reshape({name: [1, 1, h, w] for name in INPUTS})
    for prop in onnx.load(str(src), load_external_data=False).metadata_props:
        network.set_rt_info(prop.value, ['fusion_ros', prop.key.removeprefix('fusion_ros.')])
    ov.save_model(network, str(dst), compress_to_fp16=False)


class RuntimeNetwork:
    """An exported network: called as the model is, ``(thermal, visible_y) -> FusionOutput``
    on fp32 CPU tensors. ``name`` and ``version`` say which runtime runs it."""

    name = ''
    version = ''

    def __init__(self, outputs: Sequence[str]) -> None:
        self.outputs = list(outputs)

    def _result(self, arrays: Sequence[np.ndarray]) -> FusionOutput:
        found = {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in zip(self.outputs,
                                                                             arrays)}
        return FusionOutput(fused=found['fused'], enhanced=found.get('enhanced'),
                            day_probability=found.get('day_probability'))

    def __call__(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        raise NotImplementedError


class OpenVINONetwork(RuntimeNetwork):
    """OpenVINO on the CPU; ``precision`` bf16 runs its bf16 kernels (AMX / AVX512-BF16)."""

    name = 'openvino'

    def __init__(self, path: Path, outputs: Sequence[str], precision: str,
                 threads: int) -> None:
        import openvino as ov

        super().__init__(outputs)
        self.version = ov.__version__.split('-')[0]
        core = ov.Core()
        config = {'INFERENCE_PRECISION_HINT': 'bf16' if precision == 'bf16' else 'f32',
                  'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_NUM_THREADS': max(1, threads)}
        self._compiled = core.compile_model(core.read_model(str(path)), 'CPU', config)
        self._request = self._compiled.create_infer_request()
        self._ports = [self._compiled.output(n) for n in self.outputs]

    def __call__(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        result = self._request.infer({'thermal': thermal.numpy(),
                                      'visible_y': visible_y.numpy()})
        return self._result([np.array(result[p]) for p in self._ports])


class OnnxRuntimeNetwork(RuntimeNetwork):
    """ONNX Runtime's CPU execution provider (fp32)."""

    name = 'onnxruntime'

    def __init__(self, path: Path, outputs: Sequence[str], threads: int) -> None:
        import onnxruntime as ort

        super().__init__(outputs)
        self.version = ort.__version__
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options,
                                             providers=['CPUExecutionProvider'])

    def __call__(self, thermal: torch.Tensor, visible_y: torch.Tensor) -> FusionOutput:
        return self._result(self._session.run(self.outputs, {
            'thermal': thermal.numpy(), 'visible_y': visible_y.numpy()}))


def load_network(backend: str, path: Path, outputs: Sequence[str], precision: str,
                 threads: int | None = None) -> RuntimeNetwork:
    """Open the exported network at ``path`` in ``backend`` (``openvino`` or
    ``onnxruntime``) at ``precision`` (``fp32``, or ``bf16`` for OpenVINO)."""
    threads = threads or torch.get_num_threads()
    if backend == 'openvino':
        return OpenVINONetwork(path, outputs, precision, threads)
    if backend == 'onnxruntime':
        if precision != 'fp32':
            raise ConfigError(f'backend onnxruntime runs fp32 on the CPU, not {precision}: '
                              'use precision fp32 (or auto), or backend openvino for bf16')
        return OnnxRuntimeNetwork(path, outputs, threads)
    raise ConfigError(f'backend {backend!r} runs no exported network; use one of {RUNTIMES}')

"""Which runtime evaluates the network on the CPU: PyTorch eager, or the network exported once to ONNX and
run by ONNX Runtime or OpenVINO (both faster than PyTorch eager for this convolutional U-Net on a CPU;
benchmarks/RESULTS.md). Only the network call moves; the sampler step around it stays in PyTorch.

The export is the loaded module as it is (a :class:`PaletteUNet` or its EDM-preconditioned subclass, whose
float64 scalings export as float64 ONNX ops), with dynamic batch and image size, cached on disk under a key
that hashes the weights, the model config and the exporter, so that a restart reuses it and new weights
get a new export. PyTorch stays the training path, the GPU path, and the fallback when the package is
absent or the export fails (one log line says so).

Attention: for ONNX Runtime, ``scaled_dot_product_attention`` exports as one fused
``com.microsoft.MultiHeadAttention`` node, whose CPU kernel is a flash attention that never builds the
(HW x HW) score matrix. Exported as the standard MatMul, Softmax, MatMul, the attention blocks took 36% of
a 256x256 forward (their 64x64 maps have 4,096 positions; ONNX Runtime's profile on a Zen 4: 704 ms of
1,967 at batch 2, one thread), fused 549 ms: the forward fell from 1,947 to 1,800 ms (64x64: 76.5 to 75.6
ms), outputs equal within 3e-7. OpenVINO gets the standard ops (it does not read ONNX Runtime's contrib
ops), so each backend has its own export.

Exporter: ``torch.onnx.export(dynamo=False)``, the TorchScript exporter: 4 s for the bundled model
against 74 s for the torch.export-based one (the default since torch 2.9, which also needs onnxscript),
equal outputs from both, and dynamic batch and image size through ``dynamic_axes``. It is deprecated in
torch 2.9+; should a later torch drop it, the export fails, the worker logs why and runs in PyTorch.

Precision: exact (fp32) by default, within 1e-4 of PyTorch on the network output. ONNX Runtime's CPU
provider runs fp32 only. OpenVINO is told fp32 explicitly (``INFERENCE_PRECISION_HINT``): left alone it
silently runs bf16 on CPUs with native bf16; with ``Precision.BF16`` it is asked for bf16, which is opt-in
because its effect on the trained model's quality has not been evaluated.

Threads: ``threads`` (default: ``torch.get_num_threads()``, which follows OMP_NUM_THREADS) sets the
runtime's thread count; ONNX Runtime spreads a batch's examples over them (:class:`OnnxRuntimeNetwork`)
and its threads wait passively (no spinning: ``session.intra_op.allow_spinning=0``, what
OMP_WAIT_POLICY=PASSIVE does for PyTorch), and OpenVINO's are not pinned to cores, so that sharing two cores
with an API, Redis or a training run does not stall sampling. (OpenVINO with one stream per thread, its
way of splitting a batch, was slower than one stream: 125 against 110 ms.)
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import itertools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.onnx import symbolic_helper

from model.config import ModelConfig
from model.runtime.precision import Precision

log = logging.getLogger("palette.runtime")

# The network as the sampler step calls it: (source, mask, y_t, gamma) -> output, float32 tensors.
Network = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]

INPUT_NAMES = ("source", "mask", "y_t", "gamma")
OUTPUT_NAME = "output"
OPSET = 18
CONTRIB_DOMAIN = "com.microsoft"  # ONNX Runtime's own operators
ATTENTION_OP = "aten::scaled_dot_product_attention"
EXPORT_FORMAT = "palette-onnx/3"  # bump when the export itself changes: every cached file is then stale
CACHE_ENV = "PALETTE_ONNX_CACHE"
EXTRA = "pip install 'palette-service[cpu]'"


class Backend(enum.StrEnum):
    TORCH = "torch"  # eager PyTorch: training, CUDA, and the fallback
    ONNXRUNTIME = "onnxruntime"  # ONNX Runtime's CPU provider, fp32: the CPU default
    OPENVINO = "openvino"  # OpenVINO's CPU plugin, fp32 or (opt-in) bf16

    @property
    def package(self) -> str:
        """The runtime's package."""
        return self.value

    @property
    def packages(self) -> tuple[str, ...]:
        """Everything it needs installed: the runtime, and onnx for the export."""
        return () if self is Backend.TORCH else ("onnx", self.package)


def default_cache_dir() -> Path:
    """$PALETTE_ONNX_CACHE, else $XDG_CACHE_HOME/palette/onnx, else ~/.cache/palette/onnx."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "palette" / "onnx"


def export_key(network: nn.Module, config: ModelConfig, backend: Backend) -> str:
    """sha256 of everything the exported file depends on: the exporter, the backend it is for, the
    module's class, the model config and every weight's name, dtype, shape and bytes. Equal weights give an
    equal key in any process."""
    digest = hashlib.sha256()
    module = type(network).__qualname__
    exporter = f"{EXPORT_FORMAT} {backend} torch {torch.__version__} opset {OPSET} {module}"
    digest.update(exporter.encode())
    digest.update(config.to_json().encode())
    for name, tensor in sorted(network.state_dict().items()):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name} {flat.dtype} {list(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@symbolic_helper.parse_args("v", "v", "v", "v", "f", "b", "v", "b")
def _multi_head_attention(
    graph: Any,
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any,
    dropout_p: float,
    is_causal: bool,
    scale: Any,
    enable_gqa: bool,
) -> Any:
    """The exporter's symbolic for ``scaled_dot_product_attention(q, k, v)`` on (B, heads, HW, C) tensors:
    ONNX Runtime's fused ``MultiHeadAttention`` with the heads folded into the batch, (B * heads, HW, C)
    and one head each, since the traced graph knows no sizes (the batch and image size are dynamic) and
    the op needs its head count as a constant; the head width C is read from the query's shape in the
    graph. It scales by 1/sqrt(C), as SDPA does by default. Anything but that plain case is refused, so
    the export fails (and the worker runs in PyTorch) rather than computing something else."""
    plain = symbolic_helper._is_none(attn_mask) and symbolic_helper._is_none(scale)
    if not plain or dropout_p != 0.0 or is_causal or enable_gqa:
        raise ValueError("only unmasked, unscaled, non-causal attention exports as MultiHeadAttention")
    head_width = graph.op(
        "Slice",
        graph.op("Shape", query),
        graph.op("Constant", value_t=torch.tensor([3])),
        graph.op("Constant", value_t=torch.tensor([4])),
    )
    per_head = graph.op("Concat", graph.op("Constant", value_t=torch.tensor([0, -1])), head_width, axis_i=0)

    def heads_in_batch(tensor: Any) -> Any:  # (B, heads, HW, C) -> (B * heads, HW, C)
        return graph.op("Reshape", graph.op("Flatten", tensor, axis_i=2), per_head)

    attended = graph.op(
        f"{CONTRIB_DOMAIN}::MultiHeadAttention",
        heads_in_batch(query),
        heads_in_batch(key),
        heads_in_batch(value),
        num_heads_i=1,
    )
    return graph.op("Reshape", attended, graph.op("Shape", query))


@contextlib.contextmanager
def _attention_exported_for(backend: Backend) -> Iterator[dict[str, int]]:
    """Within it, the TorchScript exporter writes attention the way ``backend`` runs it fastest; yields
    the extra operator domains the export uses."""
    if backend is not Backend.ONNXRUNTIME:
        yield {}
        return
    torch.onnx.register_custom_op_symbolic(ATTENTION_OP, _multi_head_attention, OPSET)
    try:
        yield {CONTRIB_DOMAIN: 1}
    finally:
        torch.onnx.unregister_custom_op_symbolic(ATTENTION_OP, OPSET)


def export_onnx(network: nn.Module, config: ModelConfig, path: Path, backend: Backend) -> None:
    """``network`` (float32, on the CPU, as loaded) to ONNX at ``path`` for ``backend``, batch and image
    size dynamic."""
    size = config.unet.image_size
    batch = 2  # not 1: a traced size-1 dimension may be folded into a constant
    example = (
        torch.zeros(batch, config.unet.out_channels, size, size),
        torch.ones(batch, config.unet.mask_channels, size, size),
        torch.zeros(batch, config.unet.out_channels, size, size),
        torch.full((batch,), 0.5),
    )
    image_axes = {0: "batch", 2: "height", 3: "width"}
    axes: dict[str, dict[int, str]] = {name: image_axes for name in (*INPUT_NAMES[:3], OUTPUT_NAME)}
    axes["gamma"] = {0: "batch"}
    with (
        warnings.catch_warnings(),
        torch.inference_mode(False),
        torch.no_grad(),
        _attention_exported_for(backend) as custom_opsets,
    ):
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and tracer warnings
        torch.onnx.export(
            network,
            example,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            custom_opsets=custom_opsets,
            dynamo=False,
        )


def cached_export(
    network: nn.Module, config: ModelConfig, backend: Backend, cache_dir: Path | None = None
) -> Path:
    """The ONNX file of ``network`` for ``backend``: from the cache when its key is there, else exported
    into it (written to a temporary name and renamed, so a crash never leaves a truncated file under the
    key)."""
    directory = cache_dir or default_cache_dir()
    path = directory / f"{export_key(network, config, backend)}.onnx"
    if path.is_file():
        log.debug("reusing the exported network %s", path)
        return path
    directory.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        export_onnx(network, config, temporary, backend)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _tensors(source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> dict[str, Any]:
    """The inputs as float32 contiguous NCHW numpy arrays (views of the tensors where they already are)."""
    values = (source, mask, y_t, gamma)
    return {
        name: value.detach().float().contiguous().numpy()
        for name, value in zip(INPUT_NAMES, values, strict=True)
    }


def onnxruntime_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session of the exported network with ``threads`` intra-op threads that wait
    passively (``allow_spinning=0``)."""
    ort = import_module("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def batch_parts(batch: int, threads: int) -> list[slice]:
    """The rows of a batch, as ``min(threads, batch)`` contiguous parts of near-equal size."""
    parts = min(threads, batch)
    bounds = [batch * index // parts for index in range(parts + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(bounds)]


class OnnxRuntimeNetwork:
    """The exported network in ONNX Runtime, fp32, on ``threads`` threads.

    A batch of two or more runs data-parallel: split into one part per thread (:func:`batch_parts`), each
    part run by a session of ``threads // parts`` intra-op threads on a thread of its own (``session.run``
    releases the GIL). Splitting a convolutional U-Net's batch scales almost perfectly, where one session's
    intra-op threads synchronise after every one of its ~1,000 small operations: on 2 cores a 4-example
    batch ran 1.3x sooner (64x64: 89 against 113 ms; benchmarks/RESULTS.md). Every operation of the network
    is per example, so the rows come out as the whole batch's would (within float32 rounding)."""

    def __init__(self, path: Path, threads: int) -> None:
        self.path = path
        self.threads = threads
        self.sessions: dict[int, Any] = {}  # by intra-op thread count, created when first needed
        self.session = self.session_with(threads)  # a batch of one
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="palette-onnxruntime")

    def session_with(self, threads: int) -> Any:
        if threads not in self.sessions:
            self.sessions[threads] = onnxruntime_session(self.path, threads)
        return self.sessions[threads]

    def __call__(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        feeds = _tensors(source, mask, y_t, gamma)
        parts = batch_parts(source.shape[0], self.threads)
        if len(parts) == 1:
            (output,) = self.session.run([OUTPUT_NAME], feeds)
            return torch.from_numpy(output)
        session = self.session_with(self.threads // len(parts))

        def run_part(rows: slice) -> Any:
            (part,) = session.run([OUTPUT_NAME], {name: value[rows] for name, value in feeds.items()})
            return part

        return torch.from_numpy(np.concatenate(list(self.pool.map(run_part, parts))))


class OpenVinoNetwork:
    """The exported network compiled by OpenVINO for the CPU, dynamic shapes, precision stated explicitly."""

    def __init__(self, path: Path, threads: int, precision: Precision) -> None:
        ov = import_module("openvino")
        hint = {Precision.FP32: "f32", Precision.BF16: "bf16"}.get(precision)
        if hint is None:
            raise ValueError(f"OpenVINO runs fp32 or bf16 on the CPU, not {precision}")
        self.compiled = ov.Core().compile_model(
            str(path),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": hint,
                "INFERENCE_NUM_THREADS": threads,
                "PERFORMANCE_HINT": "LATENCY",
                "ENABLE_CPU_PINNING": False,
            },
        )
        self.request = self.compiled.create_infer_request()

    def __call__(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        outputs = self.request.infer(_tensors(source, mask, y_t, gamma))
        return torch.from_numpy(outputs[0].copy())  # the request reuses its output buffer


def _importable(name: str) -> bool:
    try:
        import_module(name)
    except ImportError:
        return False
    return True


def load_network(
    network: nn.Module,
    config: ModelConfig,
    backend: Backend,
    precision: Precision = Precision.FP32,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> tuple[Network, Backend]:
    """What the sampler step calls for ``network`` with ``backend``, and the backend it really is: the
    exported network in ONNX Runtime or OpenVINO, or ``network`` itself for PyTorch and as the fallback
    (with one log line) when the package is not installed or the export fails."""
    if backend is Backend.TORCH:
        return network, Backend.TORCH
    missing = [name for name in backend.packages if not _importable(name)]
    if missing:
        log.warning("%s not installed: the network runs in PyTorch (%s)", " and ".join(missing), EXTRA)
        return network, Backend.TORCH
    count = threads or torch.get_num_threads()
    try:
        path = cached_export(network, config, backend, cache_dir)
        runner: Network
        if backend is Backend.ONNXRUNTIME:
            runner = OnnxRuntimeNetwork(path, count)
        else:
            runner = OpenVinoNetwork(path, count, precision)
    except Exception as error:  # a worker that can sample in PyTorch should not fail to start instead
        log.warning("exporting the network to %s failed (%s): the network runs in PyTorch", backend, error)
        return network, Backend.TORCH
    log.info("the network runs in %s (%s, threads=%d; %s)", backend, precision, count, path)
    return runner, backend

"""One sampler step of the fast path: the step table, the fused step over it, the static buffers it reads
and writes in place, and how it is laid out, compiled and captured.

Every sampler in :mod:`model.sampling` is one linear update over coefficients that depend only on the
step (:class:`model.sampling.StepCoefficients`). Forming them once, in float64 on the host, and uploading
them as one (steps, 7) float32 table, beside the y_0 coefficients of the network's prediction, leaves each
step a single network call and one elementwise update through the same :func:`model.sampling.estimate_y0`
and :func:`model.sampling.linear_update` the reference loop uses: no per-step scalar arithmetic, nothing
for the host to wait on, and the same code for every sampler, which is what lets a whole step be one CUDA
graph.

Layout: on CUDA, cuDNN's and Inductor's fastest bf16/fp16 tensor-core convolutions are NHWC
("channels_last") kernels; in NCHW every convolution pays a layout transpose on the way in and out. On the
CPU oneDNN's convolutions are faster in NHWC too (1.2-1.4x for this network, benchmarks/RESULTS.md), and
the values are the same either way.

Compilation: Inductor fuses GroupNorm, SiLU, FiLM and the update into a few kernels, and the compiled
step is what a CUDA graph then captures. A graph replays one whole step (network and update, a few
hundred kernels) with one launch: at 64x64, or at batch 1, a step is mostly kernel-launch overhead. It
replays fixed addresses, so everything a step reads or writes lives in the static buffers of
:class:`StaticStep` and per-step values are copied into them on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, cast

import torch
import torch._dynamo.config
from torch import Tensor, nn

from model.config import DiffusionConfig, Target, UNetConfig
from model.diffusion.process import Y0Coefficients, y0_coefficients
from model.diffusion.target import known_values
from model.runtime.backend import Network
from model.runtime.options import CompileMode
from model.runtime.precision import Precision, autocast
from model.sampling import (
    SamplerSettings,
    StepCoefficients,
    estimate_y0,
    linear_update,
    sampler_coefficients,
    sampler_levels,
    start_state,
)

if TYPE_CHECKING:
    from torch.cuda import _POOL_HANDLE

GraphPool: TypeAlias = "_POOL_HANDLE"  # what torch.cuda.graph_pool_handle() returns

# Columns of a row of the table: the level gamma, y_0 = k_y y + k_o output and
# y_next = c_y y + c_d d + c_p d_prev + s z.
GAMMA, K_Y, K_O, C_Y, C_D, C_P, S = range(7)
ROW_WIDTH = 7
GRAPH_WARMUP_CALLS = 3
# Dynamo keys its cache on the code object, which every pipeline's step shares, and stops compiling (falling
# back to eager, with only a warning) after ``recompile_limit`` variants: room for 8 batch-size buckets of 8
# pipelines in one process.
RECOMPILE_LIMIT = 64

# (y, d_prev, z, row, source, mask) -> (y_next, d)
StepFunction = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class StepTable:
    rows: Tensor  # (steps, ROW_WIDTH) float32 on the sampling device
    noisy: tuple[bool, ...]  # host-side: whether step i adds fresh noise (s != 0)

    @property
    def steps(self) -> int:
        return len(self.noisy)


def step_table(
    settings: SamplerSettings,
    diffusion: DiffusionConfig,
    device: torch.device | str = "cpu",
    start: float = 1.0,
) -> StepTable:
    """The table for ``settings`` on the levels :func:`model.sampling.sampler_levels` gives (the last
    ``start`` of them: a partially noised start)."""
    levels = sampler_levels(settings, diffusion, start)
    gamma = levels[:-1]
    k = y0_coefficients(gamma, diffusion.prediction)
    c = sampler_coefficients(settings, levels)
    rows = torch.stack([gamma, k.k_y, k.k_o, c.c_y, c.c_d, c.c_p, c.s], dim=1)
    return StepTable(rows=rows.to(device=device, dtype=torch.float32), noisy=c.noisy())


def to_channels_last(network: nn.Module) -> nn.Module:
    """Re-lays out every 4-d parameter in place (values unchanged) and returns the network."""
    # Module.to takes memory_format at run time; its type stubs leave it out.
    return network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def laid_out(tensor: Tensor, channels_last: bool) -> Tensor:
    """``tensor`` in the layout the network expects; a no-op when it already has it."""
    return tensor.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def fused_step(
    network: Network,
    device: torch.device,
    precision: Precision,
    *,
    channels_last: bool,
    target: Target = Target.IMAGE,
) -> StepFunction:
    """The step for ``network`` (the module, or its export in another runtime: :mod:`model.runtime.backend`):
    only the network runs in ``precision``; the update is float32, with the known pixels (mask 0) put back
    exactly, as :class:`model.sampling.KnownPixels` does. ``target`` says what ``y`` is
    (:mod:`model.diffusion.target`): the image, or its residual over ``source``."""

    def step(
        y: Tensor, d_prev: Tensor, z: Tensor, row: Tensor, source: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        gamma = row[GAMMA].expand(y.shape[0])
        with autocast(device, precision):
            output = network(
                laid_out(source, channels_last),
                laid_out(mask, channels_last),
                laid_out(y, channels_last),
                gamma,
            )
        d = estimate_y0(output.float(), y, Y0Coefficients(row[K_Y], row[K_O]), source, target)
        y_next = linear_update(StepCoefficients(row[C_Y], row[C_D], row[C_P], row[S]), y, d, d_prev, z)
        return torch.where(mask > 0.5, y_next, known_values(source, target)), d

    return step


def compile_step(step: StepFunction, mode: CompileMode, backend: str = "inductor") -> StepFunction:
    """``step`` compiled as one graph (``fullgraph``: a graph break is an error, not a silent slowdown),
    specialised to each batch size it meets (``dynamic=False``). Raises dynamo's recompile limit to
    :data:`RECOMPILE_LIMIT` if it is lower (idempotent: calling it again changes nothing)."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    return cast(
        StepFunction, torch.compile(step, mode=mode.value, fullgraph=True, dynamic=False, backend=backend)
    )


def new_graph_pool() -> GraphPool:
    """One memory pool shared by all of a pipeline's graphs. Safe because they are never replayed
    concurrently and no tensor allocated during a capture outlives it (results go to static buffers)."""
    return torch.cuda.graph_pool_handle()


def capture(run: Callable[[], None], pool: GraphPool) -> torch.cuda.CUDAGraph:
    """Capture one call of ``run`` after a few on a side stream: the first calls compile, let cuDNN pick
    its algorithms and size the allocator's blocks, none of which may happen during a capture."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(GRAPH_WARMUP_CALLS):
            run()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        run()
    return graph


def draw_rows(out: Tensor, generators: Sequence[torch.Generator]) -> None:
    """Row i of ``out`` <- N(0, I) from ``generators[i]``: the same numbers ``torch.randn`` of one row's
    shape draws from that generator, as :class:`model.sampling.PerExampleNoise` does, without a host sync
    or a temporary batch."""
    for row, generator in zip(out, generators, strict=False):
        row.normal_(generator=generator)


class StaticStep:
    """The buffers one batch-size bucket's steps read and write in place, and the step over them: replayed
    from a CUDA graph when one was captured, called directly otherwise (the CPU runs this same code). The
    source and the sample share their channels (known pixels come from the source, as ``target`` says)."""

    def __init__(
        self,
        step: StepFunction,
        batch: int,
        config: UNetConfig,
        device: torch.device,
        graph_pool: GraphPool | None,
        target: Target = Target.IMAGE,
        size: tuple[int, int] | None = None,
    ) -> None:
        """``size``: (height, width) of the images, the model's resolution by default (any size where the
        step's network takes it, e.g. a :class:`model.fullres.tiling.TiledNetwork`)."""
        height, width = size or (config.image_size, config.image_size)
        self.target = target
        image = (batch, config.out_channels, height, width)
        self.batch = batch
        self.source = torch.zeros(image, device=device)
        self.mask = torch.zeros((batch, config.mask_channels, height, width), device=device)
        self.y = torch.zeros(image, device=device)
        self.d_prev = torch.zeros(image, device=device)
        self.z = torch.zeros(image, device=device)
        self.row = torch.zeros(ROW_WIDTH, device=device)
        self._step = step
        self._graph = capture(self._run, graph_pool) if graph_pool is not None else None

    def _run(self) -> None:
        y_next, d = self._step(self.y, self.d_prev, self.z, self.row, self.source, self.mask)
        self.y.copy_(y_next)
        self.d_prev.copy_(d)

    def load(
        self,
        source: Tensor,
        mask: Tensor,
        generators: Sequence[torch.Generator],
        init: Tensor | None = None,
        gamma: Tensor | float = 0.0,
    ) -> None:
        """Start a chunk: row i gets its conditioning and its initial noise from ``generators[i]``, with the
        known pixels in place; with ``init`` (the diffused variable, one row per example) the noise is added
        to it at the level ``gamma`` of the first step (:func:`model.sampling.start_state`). Rows beyond the
        chunk are padding: all zeros with mask 0, i.e. fully known, so they stay zeros and never produce a
        non-finite value."""
        count = source.shape[0]
        if count > self.batch or len(generators) != count:
            raise ValueError(f"{count} rows and {len(generators)} generators for a bucket of {self.batch}")
        for buffer in (self.source, self.mask, self.y, self.d_prev, self.z):
            buffer.zero_()
        self.source[:count].copy_(source)
        self.mask[:count].copy_(mask)
        draw_rows(self.y, generators)
        if init is not None:
            self.y[:count].copy_(start_state(init, self.y[:count], gamma))
        self.y.copy_(torch.where(self.mask > 0.5, self.y, known_values(self.source, self.target)))

    def draw_noise(self, generators: Sequence[torch.Generator]) -> None:
        draw_rows(self.z, generators)

    def step(self, row: Tensor) -> None:
        """One step with the coefficients ``row`` (a row of the step table, on the device)."""
        self.row.copy_(row)
        if self._graph is None:
            self._run()
        else:
            self._graph.replay()

    def result(self, count: int) -> Tensor:
        """The first ``count`` rows of the current sample (a copy: the buffers are reused)."""
        return self.y[:count].clone()

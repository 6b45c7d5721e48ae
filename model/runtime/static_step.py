"""The buffers one batch-size bucket's steps read and write in place, and the step over them: replayed
from a CUDA graph when one was captured, called directly otherwise (the CPU runs this same code)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from model.config import Target, UNetConfig
from model.diffusion.target import known_values
from model.runtime.cuda_graph import GraphPool, capture
from model.runtime.fused_step import StepFunction
from model.runtime.step_table import ROW_WIDTH
from model.sampling import start_state


def draw_rows(out: Tensor, generators: Sequence[torch.Generator]) -> None:
    """Row i of ``out`` <- N(0, I) from ``generators[i]``: the same numbers ``torch.randn`` of one row's
    shape draws from that generator, as :class:`model.sampling.PerExampleNoise` does, without a host sync
    or a temporary batch."""
    for row, generator in zip(out, generators, strict=False):
        row.normal_(generator=generator)


class StaticStep:
    """Buffers for ``batch`` examples of a network shaped by ``config``; the source and the sample share
    their channels (known pixels come from the source, as ``target`` says)."""

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

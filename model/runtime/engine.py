"""The optimized sampling loop: the step table uploaded once, one static step per batch-size bucket
(compiled and captured as a CUDA graph where the options say so), and nothing in the loop that makes the
host wait for the device.

A compiled step and a captured CUDA graph are specialised to one batch size, so a batch of any size runs
at the smallest bucket that holds it, padded with rows that are computed and thrown away. Every operation
of the network and of the update is per example (GroupNorm, attention and convolutions never mix rows),
so what the padding rows hold cannot change the real rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from model.config import ModelConfig
from model.diffusion.target import finished_image
from model.nn import PaletteUNet
from model.runtime.backend import Backend, load_network
from model.runtime.memory import (
    available_bytes,
    fitting_batch,
    measured_bytes_per_image,
    predicted_bytes_per_image,
)
from model.runtime.options import RuntimeOptions
from model.runtime.precision import Precision
from model.runtime.progress import Progress, StepClock
from model.runtime.step import (
    ROW_WIDTH,
    GraphPool,
    StaticStep,
    StepFunction,
    compile_step,
    fused_step,
    new_graph_pool,
    step_table,
    to_channels_last,
)
from model.sampling import PerExampleNoise, SamplerSettings


@dataclass(frozen=True)
class Chunk:
    start: int
    stop: int
    bucket: int  # the batch size it runs at (>= stop - start)

    @property
    def size(self) -> int:
        return self.stop - self.start


def plan_chunks(count: int, buckets: tuple[int, ...], max_batch: int) -> list[Chunk]:
    """Split ``count`` examples into chunks of at most ``max_batch``; each runs at the smallest bucket that
    holds it, or at its own size when there are no buckets."""
    if count < 1:
        raise ValueError("nothing to sample")
    chunks = []
    for start in range(0, count, max_batch):
        size = min(max_batch, count - start)
        bucket = min((b for b in buckets if b >= size), default=size) if buckets else size
        chunks.append(Chunk(start, start + size, bucket))
    return chunks


class FastSampler:
    """Samples with ``network`` as ``options`` say. Not re-entrant: one sampling call at a time."""

    def __init__(
        self, network: PaletteUNet, config: ModelConfig, device: torch.device, options: RuntimeOptions
    ) -> None:
        options.check_device(device)
        self.config = config
        self.device = device
        self.options = options
        # What the step calls: the module itself, or its export run by ONNX Runtime or OpenVINO (PyTorch
        # when that package is absent); the step, its table and the loop around it are the same either way.
        runner, self.backend = load_network(
            network, config, options.backend, options.precision, options.threads
        )
        self.runner = runner  # the network call alone, for samplers at other sizes (model.fullres)
        in_torch = self.backend is Backend.TORCH
        if in_torch and options.threads is not None:
            torch.set_num_threads(options.threads)
        if options.channels_last and in_torch:
            to_channels_last(network)
        if device.type == "cuda":
            # Let cuDNN time its convolution algorithms once per shape; shapes here are few and fixed.
            torch.backends.cudnn.benchmark = True
        self.target = config.diffusion.target
        self._eager_step = fused_step(
            runner,
            device,
            options.precision if in_torch else Precision.FP32,  # the exported network has its own
            channels_last=options.channels_last and in_torch,
            target=self.target,
        )
        self._step: StepFunction = self._eager_step
        if options.compile is not None:
            self._step = compile_step(self._eager_step, options.compile)
        self._graph_pool: GraphPool | None = new_graph_pool() if options.cuda_graphs else None
        self._static: dict[int, StaticStep] = {}

    def _static_step(self, bucket: int) -> StaticStep:
        if bucket not in self._static:
            self._static[bucket] = StaticStep(
                self._step, bucket, self.config.unet, self.device, self._graph_pool, self.target
            )
        return self._static[bucket]

    @torch.inference_mode()
    def warm_up(self, batch_sizes: tuple[int, ...]) -> None:
        """Compile and capture the buckets these batch sizes run at now rather than on first use."""
        for size in batch_sizes:
            for chunk in plan_chunks(size, self.options.buckets, self.options.max_batch):
                self._static_step(chunk.bucket)

    @torch.inference_mode()
    def sample(
        self,
        source: Tensor,
        mask: Tensor,
        noise: PerExampleNoise,
        settings: SamplerSettings,
        progress: Progress | None = None,
    ) -> Tensor:
        """Images (B, 3, H, W) for conditionings ``source`` (B, 3, H, W, what the network sees) and
        ``mask`` (B, 1, H, W) on the device; example i draws all its noise from ``noise.generators[i]``,
        exactly as the reference samplers do, so its sample depends only on its seed, not on the batch it
        shares."""
        table = step_table(settings, self.config.diffusion, self.device)
        chunks = plan_chunks(source.shape[0], self.options.buckets, self.options.max_batch)
        clock = StepClock(table.steps, len(chunks), progress, self.device)
        samples = []
        for number, chunk in enumerate(chunks):
            static = self._static_step(chunk.bucket)
            generators = noise.generators[chunk.start : chunk.stop]
            static.load(source[chunk.start : chunk.stop], mask[chunk.start : chunk.stop], generators)
            for index in range(table.steps):
                if table.noisy[index]:
                    static.draw_noise(generators)
                static.step(table.rows[index])
                clock.enqueued(number * table.steps + index + 1)
            samples.append(static.result(chunk.size))
        clock.finish()
        return finished_image(torch.cat(samples), source, mask, self.config.diffusion)

    def bytes_per_image(self) -> int:
        """Memory one more image in a batch needs: measured with the eager step on CUDA (an upper bound for
        the compiled one), predicted from the network's shapes on the CPU."""
        if self.device.type != "cuda":
            return predicted_bytes_per_image(self.config.unet)

        @torch.inference_mode()
        def run_step(batch: int) -> None:
            StaticStep(self._eager_step, batch, self.config.unet, self.device, None).step(
                torch.zeros(ROW_WIDTH, device=self.device)
            )

        return measured_bytes_per_image(run_step, self.device)

    def max_batch_size(self) -> int:
        """The largest batch (a bucket, at most ``options.max_batch``) that fits in the memory free now.
        Call it before the first sample: captured graphs hold their memory afterwards."""
        sizes = self.options.buckets or tuple(range(1, self.options.max_batch + 1))
        sizes = tuple(size for size in sizes if size <= self.options.max_batch)
        return fitting_batch(available_bytes(self.device), self.bytes_per_image(), sizes)

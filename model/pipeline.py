"""The small sampling API that workers and the CLI use: load a checkpoint once, then turn batches of
prepared conditionings into samples. Nothing here knows about HTTP, Redis or training.

Sampling runs through :class:`model.runtime.engine.FastSampler`; :class:`model.runtime.RuntimeOptions`
choose precision, layout, compilation, CUDA graphs and batch buckets, with defaults per device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import build_network, read_checkpoint
from model.config import DiffusionConfig, ModelConfig
from model.imaging import images_to_tensor, masks_to_tensor, tensor_to_images
from model.nn import PaletteUNet
from model.runtime.backend import Backend
from model.runtime.engine import FastSampler
from model.runtime.options import RuntimeOptions
from model.runtime.precision import Precision, default_precision
from model.runtime.progress import Progress
from model.sampling import PerExampleNoise, SamplerSettings
from model.tasks.prior import classical_prior

__all__ = [
    "Conditioning",
    "PalettePipeline",
    "Precision",
    "Progress",
    "RuntimeOptions",
    "default_precision",
    "resolve_device",
]


def resolve_device(name: str | None = None) -> torch.device:
    """'auto' (or None) picks CUDA when present, else the CPU."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class Conditioning:
    """One example's conditioning at the model's resolution: source (H, W, 3) uint8, mask (H, W) bool."""

    source: np.ndarray
    mask: np.ndarray


def network_source(condition: Conditioning, diffusion: DiffusionConfig) -> np.ndarray:
    """What the network is conditioned on: the task's source, or for a residual model the classical prior
    it refines (idempotent, so a source that already is the prior stays as it is)."""
    prior = diffusion.source_prior
    if prior is None:
        return condition.source
    return classical_prior(condition.source, condition.mask, prior)


class PalettePipeline:
    def __init__(
        self,
        network: PaletteUNet,
        config: ModelConfig,
        device: torch.device,
        precision: Precision = Precision.FP32,
        options: RuntimeOptions | None = None,
    ) -> None:
        """Without ``options`` the network runs eagerly in ``precision`` and is left as it is (the trainer
        samples its EMA network this way); with them it may be re-laid out and compiled."""
        self.network = network
        self.config = config
        self.device = device
        self.options = options or RuntimeOptions(precision=precision)
        self.sampler = FastSampler(network, config, device, self.options)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        precision: Precision | None = None,
        options: RuntimeOptions | None = None,
    ) -> PalettePipeline:
        """The checkpoint's network on ``device``, run with ``options`` (default: the device's
        :meth:`RuntimeOptions.for_device` for ``precision``), with ``precision`` overriding theirs when
        given."""
        resolved = device if isinstance(device, torch.device) else resolve_device(device)
        checkpoint = read_checkpoint(path)
        network = build_network(checkpoint, resolved)
        chosen = options or RuntimeOptions.for_device(resolved, precision=precision)
        if precision is not None:
            chosen = replace(chosen, precision=precision)
        return cls(network, checkpoint.config, resolved, chosen.precision, chosen)

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def precision(self) -> Precision:
        return self.options.precision

    @property
    def backend(self) -> Backend:
        """What runs the network: the options' backend, or PyTorch where that fell back."""
        return self.sampler.backend

    def max_batch_size(self) -> int:
        """The largest batch to send to :meth:`sample` given the memory free now (see
        :meth:`FastSampler.max_batch_size`); workers call it once at start-up."""
        return self.sampler.max_batch_size()

    def warm_up(self, batch_sizes: Sequence[int]) -> None:
        """Compile and capture for these batch sizes now, so that the first requests are not slow."""
        self.sampler.warm_up(tuple(batch_sizes))

    @torch.inference_mode()
    def sample(
        self,
        conditions: Sequence[Conditioning],
        seeds: Sequence[int],
        settings: SamplerSettings,
        *,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """One sample per conditioning, (B, H, W, 3) uint8; example i depends only on its conditioning,
        ``seeds[i]`` and ``settings``, not on the rest of the batch. ``progress(finished, total)`` is
        called once per step, when the device has finished it."""
        if len(conditions) != len(seeds):
            raise ValueError(f"{len(conditions)} conditionings but {len(seeds)} seeds")
        for condition in conditions:
            if condition.source.shape != (self.resolution, self.resolution, 3):
                raise ValueError(
                    f"source must be {self.resolution}x{self.resolution}x3, got {condition.source.shape}"
                )
        diffusion = self.config.diffusion
        source = images_to_tensor([network_source(c, diffusion) for c in conditions], self.device)
        mask = masks_to_tensor([c.mask for c in conditions], self.device)
        noise = PerExampleNoise(seeds, self.device)
        samples = self.sampler.sample(source, mask, noise, settings, progress)
        return tensor_to_images(samples)

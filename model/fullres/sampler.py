"""Sampling at any size: the fast path's fused step and static buffers around a :class:`TiledNetwork`, and
the reference samplers around the same network (the definition the fast path is held to).

Both start from pure noise, or (``start`` < 1, with ``init``) from an image partially noised to the first
level of the last ``start`` of the schedule (SDEdit): the refinement of inpainting and uncropping and the
restoration of a JPEG. Known pixels (mask 0) are kept exactly, as at the model's resolution.

There are no CUDA graphs or compiled steps here: shapes change with every upload. The network's memory is
bounded by ``max_tiles`` tiles; the photo-sized buffers (a few float32 copies of it per sample) are what
``max_pixels`` bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from model.config import ModelConfig
from model.diffusion.target import finished_image, to_diffused
from model.fullres.plan import Tiling
from model.fullres.tiling import Network, TileCounter, TiledNetwork
from model.imaging import images_to_tensor, masks_to_tensor, tensor_to_images
from model.pipeline import Conditioning, PalettePipeline, network_source
from model.runtime.backend import Backend
from model.runtime.precision import Precision
from model.runtime.step import StaticStep, fused_step, step_table
from model.sampling import PerExampleNoise, SamplerSettings, sample_network, sampler_levels


def model_tiling(config: ModelConfig, tile: int | None = None, overlap: float = 0.25) -> Tiling:
    """The tiling of a model: tiles of its resolution (or ``tile``), aligned to its downsampling."""
    return Tiling.for_model(config.resolution, len(config.unet.channel_mult), tile, overlap)


def _inputs(
    config: ModelConfig,
    device: torch.device,
    source: np.ndarray,
    mask: np.ndarray,
    count: int,
    init: np.ndarray | None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(what the network sees, the mask, the init image) for ``count`` samples of one conditioning."""
    seen = network_source(Conditioning(source, mask), config.diffusion)
    seen_batch = images_to_tensor([seen], device).expand(count, -1, -1, -1).contiguous()
    masks = masks_to_tensor([mask], device).expand(count, -1, -1, -1).contiguous()
    images = None
    if init is not None:
        images = images_to_tensor(list(init) if init.ndim == 4 else [init] * count, device)
    return seen_batch, masks, images


class FullResSampler:
    """A pipeline's network (whatever backend runs it) sampled at any size on tiles of ``tiling``."""

    def __init__(self, pipeline: PalettePipeline, tiling: Tiling | None = None, max_tiles: int | None = None):
        self.pipeline = pipeline
        self.config = pipeline.config
        self.device = pipeline.device
        self.tiling = tiling or model_tiling(pipeline.config)
        options = pipeline.options
        self.max_tiles = max_tiles or options.max_batch
        in_torch = pipeline.backend is Backend.TORCH
        self.channels_last = options.channels_last and in_torch
        self.precision = options.precision if in_torch else Precision.FP32  # an export has its own
        self.runner: Network = pipeline.sampler.runner

    def tiles(self, height: int, width: int) -> int:
        return self.tiling.count(height, width)

    @torch.inference_mode()
    def sample(
        self,
        source: np.ndarray,
        mask: np.ndarray,
        seeds: Sequence[int],
        settings: SamplerSettings,
        *,
        start: float = 1.0,
        init: np.ndarray | None = None,
        on_tiles: TileCounter | None = None,
    ) -> np.ndarray:
        """One sample per seed of the conditioning ``source`` (H, W, 3 uint8) and ``mask`` (H, W bool), as
        (len(seeds), H, W, 3) uint8. ``init``: (H, W, 3) or one per seed (len(seeds), H, W, 3) uint8, the
        image a partial start (``start`` < 1) noises; sample k depends only on its seed and inputs."""
        if init is None and start < 1.0:
            raise ValueError("a partial start needs an init image")
        target = self.config.diffusion.target
        count = len(seeds)
        seen, masks, init_images = _inputs(self.config, self.device, source, mask, count, init)
        diffused_init = None if init_images is None else to_diffused(init_images, seen, target)
        tiled = TiledNetwork(
            self.runner,
            self.tiling,
            max_tiles=self.max_tiles,
            channels_last=self.channels_last,
            on_tiles=on_tiles,
        )
        step = fused_step(tiled, self.device, self.precision, channels_last=False, target=target)
        height, width = mask.shape
        static = StaticStep(step, count, self.config.unet, self.device, None, target, size=(height, width))
        table = step_table(settings, self.config.diffusion, self.device, start)
        first = sampler_levels(settings, self.config.diffusion, start)[0]
        generators = PerExampleNoise(seeds, self.device).generators
        static.load(seen, masks, generators, diffused_init, first)
        for index in range(table.steps):
            if table.noisy[index]:
                static.draw_noise(generators)
            static.step(table.rows[index])
        return tensor_to_images(finished_image(static.result(count), seen, masks, self.config.diffusion))


@torch.inference_mode()
def reference_sample(
    network: Network,
    config: ModelConfig,
    source: np.ndarray,
    mask: np.ndarray,
    seeds: Sequence[int],
    settings: SamplerSettings,
    tiling: Tiling,
    *,
    start: float = 1.0,
    init: np.ndarray | None = None,
    max_tiles: int = 8,
) -> np.ndarray:
    """:meth:`FullResSampler.sample` with the readable reference samplers (:func:`sample_network`) over the
    same tiled network, on the CPU in float32."""
    device = torch.device("cpu")
    seen, masks, init_images = _inputs(config, device, source, mask, len(seeds), init)
    images = sample_network(
        settings,
        TiledNetwork(network, tiling, max_tiles=max_tiles),
        config.diffusion,
        seen,
        masks,
        PerExampleNoise(seeds, device),
        start=start,
        init=init_images,
    )
    return tensor_to_images(images)

"""One path from an upload to its samples at the upload's resolution, for every front door: ``palette
sample``, ``palette eval --full-resolution``, and the workers behind the API and the page.

Per task (the plan, with its cost, is :func:`model.fullres.jobs.plan_upload`):

- **restore**: at full resolution directly, on tiles. JPEG artefacts are local, so a tile sees all it
  needs; sampling starts from the JPEG itself noised to a low level (``start``, SDEdit), so one network
  evaluation per tile suffices (:mod:`model.fullres.defaults`).
- **inpaint**: coarse to fine. First the structure of the hole with its context: the whole photo scaled so
  its longer side is the model's resolution, sampled from noise. Then a refinement at full resolution of
  the hole's bounding box plus a margin only: the coarse sample upsampled into the hole, partially noised
  (``refine_start``) and denoised on tiles. The cost follows the hole.
- **uncrop**: the same coarse-to-fine path on the extended canvas, at the upload's scale (extending left
  and right doubles the width).
- **colorize**: coarse to fine as well. Which colour goes where needs the whole photo: it is sampled at
  the model's resolution first. That colour, upsampled under the upload's own luminance
  (:mod:`model.fullres.chroma`), is then partially noised (``refine_start``, a low level) and denoised at
  full resolution on tiles, so that each tile puts the colours where its details are. The upload's exact
  luminance is kept.

Known pixels (everything outside an inpainting mask, the upload inside an uncropping canvas, and the
luminance of a colorization) come back exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from model.fullres.defaults import task_defaults
from model.fullres.jobs import model_tiling, plan_upload, upload_geometry
from model.fullres.plan import Geometry, JobPlan, coarse_size, plan_job, refine_box, refine_margin
from model.fullres.sampler import FullResSampler
from model.pipeline import PalettePipeline
from model.runtime.progress import Progress  # called with (tile-steps done, tile-steps in all)
from model.sampling import SamplerSettings
from model.tasks import Task
from model.tasks.base import fill_unknown, resize_rgb, to_rgb_array
from model.tasks.colorize import gray_source, luminance, resized_gray, with_luminance


class _Counter:
    """Counts the tiles the network evaluated and reports them against the plan's total."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress

    def __call__(self, tiles: int) -> None:
        self.done += tiles
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def job_plan(
    pipeline: PalettePipeline,
    task: Task,
    image: Image.Image,
    mask: Image.Image | None,
    options: Mapping[str, str],
    settings: SamplerSettings,
    samples: int,
    tile: int | None = None,
) -> JobPlan:
    config = pipeline.config
    return plan_upload(
        task,
        image,
        mask,
        options,
        settings.steps,
        samples,
        config.resolution,
        len(config.unet.channel_mult),
        tile,
    )


def run_task(
    pipeline: PalettePipeline,
    task: Task,
    image: Image.Image,
    mask: Image.Image | None,
    options: Mapping[str, str],
    settings: SamplerSettings,
    seeds: Sequence[int],
    progress: Progress | None = None,
    *,
    tile: int | None = None,
    max_tiles: int | None = None,
) -> list[Image.Image]:
    """One image per seed, at the upload's resolution (uncrop: the extended canvas at its scale); sample k
    depends only on the inputs, ``settings`` and ``seeds[k]``. ``image`` and ``mask`` are upright (EXIF
    applied) and validated; ``progress(done, total)`` counts tile-steps (tiles x steps x samples) after each
    network call. ``tile``: the tile side (default: the model's resolution); ``max_tiles``: the most tiles per
    network call (default: the pipeline's ``max_batch``), which bounds the network's memory."""
    task.validate(image, mask, options)
    geometry = upload_geometry(task, image, mask, options)
    return run_arrays(
        pipeline, task, _canvas(image, geometry), geometry.generate, settings, seeds, progress,
        tile=tile, max_tiles=max_tiles, upload=image,
    )  # fmt: skip


def run_arrays(
    pipeline: PalettePipeline,
    task: Task,
    canvas: np.ndarray,
    generate: np.ndarray | None,
    settings: SamplerSettings,
    seeds: Sequence[int],
    progress: Progress | None = None,
    *,
    tile: int | None = None,
    max_tiles: int | None = None,
    upload: Image.Image | None = None,
) -> list[Image.Image]:
    """:func:`run_task` on a ``canvas`` (H, W, 3 uint8) with its pixels to ``generate`` (H, W bool, None:
    every pixel), e.g. a degraded evaluation input; ``upload``: the original image where there is one
    (colorization reads its luminance, any mode)."""
    height, width = canvas.shape[:2]
    tiling = model_tiling(pipeline.resolution, len(pipeline.config.unet.channel_mult), task.name, tile)
    defaults = task_defaults(task.name)
    geometry = Geometry(width, height, generate)
    plan = plan_job(task.name, geometry, settings.steps, len(seeds), tiling, pipeline.resolution)
    sampler = FullResSampler(pipeline, plan.tiling, max_tiles)
    counter = _Counter(plan.cost, progress)
    if task.name == "colorize":
        gray = luminance(upload if upload is not None else Image.fromarray(canvas))
        return colorize_coarse_to_fine(sampler, gray, seeds, settings, defaults.refine_start, counter)
    if generate is None:  # restore: every pixel, at full resolution, from the noised input
        start = defaults.start
        samples = sampler.sample(
            canvas,
            np.ones((height, width), dtype=bool),
            seeds,
            settings,
            start=start,
            init=canvas if start < 1.0 else None,
            on_tiles=counter,
        )
        return [Image.fromarray(sample) for sample in samples]
    samples = coarse_to_fine(sampler, canvas, generate, seeds, settings, defaults.refine_start, counter)
    return [Image.fromarray(sample) for sample in samples]


def colorize_coarse_to_fine(
    sampler: FullResSampler,
    gray: Image.Image,
    seeds: Sequence[int],
    settings: SamplerSettings,
    refine_start: float,
    on_tiles: Callable[[int], None] | None = None,
) -> list[Image.Image]:
    """One colour image per seed at ``gray``'s size, with ``gray`` as its exact luminance: the photo at the
    model's resolution first (its aspect ratio kept), then, when the photo is larger, a refinement at full
    resolution from that colour under ``gray``, partially noised to ``refine_start``."""
    width, height = gray.size
    everywhere = np.ones((height, width), dtype=bool)
    coarse = coarse_size(width, height, sampler.config.resolution, sampler.tiling.align)
    if coarse is None:
        samples = sampler.sample(gray_source(gray), everywhere, seeds, settings, on_tiles=on_tiles)
    else:
        small = resized_gray(gray, coarse)
        small_everywhere = np.ones((small.height, small.width), dtype=bool)
        structure = sampler.sample(gray_source(small), small_everywhere, seeds, settings, on_tiles=on_tiles)
        init = np.stack([np.asarray(with_luminance(Image.fromarray(colour), gray)) for colour in structure])
        samples = sampler.sample(
            gray_source(gray), everywhere, seeds, settings, start=refine_start, init=init, on_tiles=on_tiles
        )
    return [with_luminance(Image.fromarray(sample), gray) for sample in samples]


def _canvas(image: Image.Image, geometry: Geometry) -> np.ndarray:
    """The output canvas with the upload in place (its known pixels); the rest is generated."""
    pixels = to_rgb_array(image)
    if geometry.known is None:
        return pixels
    canvas = np.zeros((geometry.height, geometry.width, 3), dtype=np.uint8)
    canvas[geometry.known.slices] = pixels
    return canvas


def coarse_to_fine(
    sampler: FullResSampler,
    canvas: np.ndarray,
    generate: np.ndarray,
    seeds: Sequence[int],
    settings: SamplerSettings,
    refine_start: float,
    on_tiles: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(len(seeds), H, W, 3) uint8: ``canvas`` (H, W, 3) with its ``generate`` pixels sampled, the others
    exactly as they are; coarse to fine when the canvas is larger than the model's resolution."""
    height, width = generate.shape
    source = fill_unknown(canvas, generate)
    tiling = sampler.tiling
    coarse = coarse_size(width, height, sampler.config.resolution, tiling.align)
    if coarse is None:
        samples = sampler.sample(source, generate, seeds, settings, on_tiles=on_tiles)
    else:
        small_mask = (
            np.asarray(Image.fromarray(generate.astype(np.uint8) * 255).resize(coarse, Image.Resampling.BOX))
            > 0
        )
        small_source = fill_unknown(to_rgb_array(resize_rgb(Image.fromarray(canvas), coarse)), small_mask)
        structure = sampler.sample(small_source, small_mask, seeds, settings, on_tiles=on_tiles)
        box = refine_box(generate, margin=refine_margin(tiling), minimum=tiling.tile)
        crop_source, crop_mask = source[box.slices], generate[box.slices]
        init = np.stack(
            [
                np.where(
                    crop_mask[..., None],
                    to_rgb_array(resize_rgb(Image.fromarray(coarse_sample), (width, height)))[box.slices],
                    crop_source,
                )
                for coarse_sample in structure
            ]
        )
        refined = sampler.sample(
            crop_source, crop_mask, seeds, settings, start=refine_start, init=init, on_tiles=on_tiles
        )
        samples = np.repeat(source[None], len(seeds), axis=0)
        samples[(slice(None), *box.slices)] = refined
    return np.where(generate[None, ..., None], samples, canvas[None])

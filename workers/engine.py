"""The worker's model side: decode a job's stored uploads, sample them at the upload's resolution through
:func:`model.fullres.run.run_task` (the path ``palette sample`` and ``palette eval`` take too) and turn the
samples into PNGs. Knows nothing about RQ.

A gathered batch is sampled job by job: jobs of different sizes are never stacked into one tensor. Within
a job, all its samples' tiles share network calls of at most ``max_batch`` tiles (lowered after running
out of device memory), so memory follows the tile batch, not the photo."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from model.fullres.jobs import output_size
from model.fullres.run import job_plan, run_task
from model.pipeline import PalettePipeline, RuntimeOptions, resolve_device
from model.runtime.backend import Backend
from model.sampling import SamplerSettings
from model.tasks import Task, TaskInputError, get_task
from model.weights import resolve_weights
from service.images import UnusableImageError, decode_image, encode_png
from service.schemas import ImageInfo, JobPayload
from service.settings import Settings

log = logging.getLogger("palette.worker")

Progress = Callable[[float], None]  # fraction of the batch done


class JobInputError(ValueError):
    """A job cannot run with the inputs it has (expired, undecodable, unsupported task); the message is
    meant for the user, and retrying would not help."""


class DeviceMemoryError(RuntimeError):
    """Not even a single image fits in the device's free memory; the message is meant for the user."""


@dataclass(frozen=True)
class PreparedJob:
    """A job's decoded, validated inputs and its cost in tile-steps (:mod:`model.fullres.plan`)."""

    task: Task
    image: Image.Image
    mask: Image.Image | None
    options: dict[str, str]
    seeds: list[int]
    cost: int


@dataclass(frozen=True)
class Output:
    pngs: list[bytes]
    size: ImageInfo


def sampler_settings(payload: JobPayload) -> SamplerSettings:
    try:
        return SamplerSettings(kind=payload.sampler, steps=payload.steps, eta=payload.eta)
    except ValueError as error:
        raise JobInputError(str(error)) from None


class SamplingEngine:
    """``max_batch``: the most images sampled together, the configured limit or less if memory is short."""

    def __init__(self, pipeline: PalettePipeline, settings: Settings, max_batch: int) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.max_batch = max_batch

    @classmethod
    def load(cls, settings: Settings) -> tuple[SamplingEngine, float]:
        """The engine, ready to serve, and the seconds it took: loading the weights, then compiling and
        capturing every batch size it may run, so that no request pays for that (raises CheckpointError)."""
        started = time.perf_counter()
        device = resolve_device(settings.device)
        backend = None if settings.backend == "auto" else Backend(settings.backend)
        options = RuntimeOptions.for_device(device, backend=backend, threads=settings.threads)
        pipeline = PalettePipeline.from_checkpoint(resolve_weights(settings.weights), device, options=options)
        fitting = pipeline.max_batch_size()  # measured before warm-up: captured graphs keep their memory
        max_batch = min(settings.max_batch, fitting)
        if max_batch < settings.max_batch:
            log.warning(
                "max_batch lowered from %d to %d: the most one call of this device's pipeline takes "
                "(its free memory, or on the CPU the runtime's per-call cap)",
                settings.max_batch,
                fitting,
            )
        pipeline.warm_up(range(1, max_batch + 1))
        return cls(pipeline, settings, max_batch), time.perf_counter() - started

    def prepare(self, payload: JobPayload, inputs: dict[str, bytes] | None) -> PreparedJob:
        if payload.task not in self.pipeline.config.tasks:
            raise JobInputError(f"the loaded model was not trained for the {payload.task} task")
        if inputs is None:
            raise JobInputError(
                f"the job's uploads have expired (they are kept {self.settings.input_ttl_seconds} s); "
                "submit it again"
            )
        task = get_task(payload.task)
        try:
            image = self._decode(inputs, "image")
            mask = self._decode(inputs, "mask") if "mask" in inputs else None
            task.validate(image, mask, payload.options)
            width, height = output_size(task, image.width, image.height, payload.options)
            if width * height > self.settings.max_pixels:
                raise TaskInputError(
                    f"the output would be {width}x{height} ({width * height / 1e6:.2f} megapixels); "
                    f"the limit is {self.settings.max_pixels / 1e6:.2f} megapixels"
                )
            plan = job_plan(
                self.pipeline,
                task,
                image,
                mask,
                payload.options,
                sampler_settings(payload),
                len(payload.seeds),
            )
        except (UnusableImageError, TaskInputError) as error:
            raise JobInputError(str(error)) from None
        return PreparedJob(task, image, mask, dict(payload.options), payload.seeds, plan.cost)

    def _decode(self, inputs: dict[str, bytes], field: str) -> Image.Image:
        return decode_image(
            inputs[field],
            field=field,
            max_pixels=self.settings.max_image_pixels,
            max_side=self.settings.max_image_side,
        ).image

    def sample(
        self, jobs: Sequence[PreparedJob], settings: SamplerSettings, progress: Progress
    ) -> list[list[Image.Image]]:
        """Every job's samples at the upload's resolution, job by job (:func:`run_task`), with at most
        ``max_batch`` tiles per network call; ``progress`` is the fraction of the batch's tile-steps done.
        Sample k of a job depends only on its inputs and its seed k, so a job can be run again with fewer
        tiles per call without changing any result: a job that runs out of device memory is run again with
        half as many (recursively), and ``max_batch`` stays lowered for what follows; running out with a
        single tile per call raises ``DeviceMemoryError``."""
        total = sum(job.cost for job in jobs) or 1
        results: list[list[Image.Image]] = []
        for job in jobs:
            before = sum(j.cost for j in jobs[: len(results)])

            def report(done: int, cost: int, before: int = before) -> None:
                progress((before + done) / total)

            while True:
                tiles = self.max_batch
                try:
                    images = run_task(
                        self.pipeline, job.task, job.image, job.mask, job.options, settings, job.seeds,
                        report, max_tiles=tiles,
                    )  # fmt: skip
                except torch.cuda.OutOfMemoryError as error:  # torch.OutOfMemoryError, whatever the device
                    log.warning("out of device memory sampling %d tiles per call: %s", tiles, error)
                else:
                    break
                self._lower_max_batch(tiles)  # outside the except block: the failed attempt is freed
            results.append(images)
        return results

    def _lower_max_batch(self, failed: int) -> None:
        """After ``failed`` tiles per call did not fit: half as many from now on (other processes may have
        taken the memory measured at start-up)."""
        if failed == 1:
            raise DeviceMemoryError(
                f"the worker's device ({self.pipeline.device}) ran out of memory sampling a single tile"
            )
        if self.pipeline.device.type == "cuda":
            torch.cuda.empty_cache()  # hand the failed attempt's cached blocks back before trying again
        lowered = (failed + 1) // 2
        log.warning("max_batch lowered from %d to %d after running out of memory", self.max_batch, lowered)
        self.max_batch = lowered

    def finalize(self, job: PreparedJob, images: list[Image.Image]) -> Output:
        return Output(
            pngs=[encode_png(image) for image in images],
            size=ImageInfo(width=images[0].width, height=images[0].height, format="PNG"),
        )

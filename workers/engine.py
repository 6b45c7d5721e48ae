"""The worker's model side: decode a job's stored uploads, check them (and its sampler settings) against
the loaded model, sample them at the upload's resolution through :func:`model.fullres.run.run_task` (the
path ``palette sample`` and ``palette eval`` take too) and turn the samples into PNGs. Knows nothing about
RQ.

The worker does no chunking of its own. A gathered batch is sampled job by job (jobs of different sizes
are never stacked into one tensor); within a job, the model splits the work into network calls of at most
``max_batch`` tiles (``max_tiles`` of :func:`run_task`, lowered here after running out of device memory),
so memory follows that bound, not the photo nor the batch. ``max_batch`` also caps the images a batch
gathers (``workers.batching``): there it groups jobs that share sampler settings, a deadline and progress
reports, and bounds how long one batch holds its jobs."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from jobs.images import UnusableImageError, decode_image, encode_png
from jobs.payload import ImageInfo, JobPayload
from jobs.settings import Settings
from model.fullres.jobs import output_size
from model.fullres.run import job_plan, run_task
from model.pipeline import PalettePipeline, RuntimeOptions, resolve_device
from model.runtime.backend import Backend
from model.runtime.precision import Precision
from model.runtime.progress import Progress
from model.sampling import SamplerSettings, sampler_levels
from model.tasks import Task, TaskInputError, get_task
from model.weights import resolve_weights

log = logging.getLogger("palette.worker")


class JobInputError(ValueError):
    """A job cannot run with the inputs it has (expired, undecodable, unsupported task, a step count the
    model cannot walk); the message is meant for the user, and retrying would not help."""


class DeviceMemoryError(RuntimeError):
    """Not even a single image fits in the device's free memory; the message is meant for the user."""


@dataclass(frozen=True)
class PreparedJob:
    """A job's decoded, validated inputs and its cost in tile-steps (:mod:`model.fullres.plan`)."""

    task: Task
    image: Image.Image
    mask: Image.Image | None
    options: dict[str, str]
    sampler: SamplerSettings
    seeds: list[int]
    cost: int


@dataclass(frozen=True)
class Output:
    pngs: list[bytes]
    size: ImageInfo


class SamplingEngine:
    """``max_batch``: the most tiles per network call, and images per gathered batch; the configured limit,
    or less if memory is short."""

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
        precision = None if settings.precision == "auto" else Precision(settings.precision)
        options = RuntimeOptions.for_device(
            device, precision=precision, backend=backend, threads=settings.threads
        )
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
        """The job ready to sample; raises ``JobInputError`` for anything that would fail again on a retry."""
        if payload.task not in self.pipeline.config.tasks:
            raise JobInputError(f"the loaded model was not trained for the {payload.task} task")
        self._check_steps(payload.sampler)
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
                payload.sampler,
                len(payload.seeds),
            )
        except (UnusableImageError, TaskInputError) as error:
            raise JobInputError(str(error)) from None
        return PreparedJob(
            task, image, mask, dict(payload.options), payload.sampler, payload.seeds, plan.cost
        )

    def _check_steps(self, settings: SamplerSettings) -> None:
        """The API accepts up to ``max_steps`` steps without knowing the model; the loaded model's sampling
        schedule decides what its samplers can walk (:func:`sampler_levels` raises on the others), and
        such a job would fail the same way on every retry."""
        try:
            sampler_levels(settings, self.pipeline.config.diffusion)
        except ValueError as error:
            raise JobInputError(
                f"the served model cannot sample {settings.steps} steps with {settings.kind.value}: {error}"
            ) from None

    def _decode(self, inputs: dict[str, bytes], field: str) -> Image.Image:
        return decode_image(
            inputs[field],
            field=field,
            max_pixels=self.settings.max_image_pixels,
            max_side=self.settings.max_image_side,
        ).image

    def sample(self, jobs: Sequence[PreparedJob], progress: Progress) -> list[list[Image.Image]]:
        """Every job's samples at the upload's resolution, job by job (:func:`run_task`), with at most
        ``max_batch`` tiles per network call; ``progress(done, total)`` counts the batch's tile-steps.
        Sample k of a job depends only on its inputs and its seed k, so a job can be run again with fewer
        tiles per call without changing any result: a job that runs out of device memory is run again with
        half as many (recursively), and ``max_batch`` stays lowered for what follows; running out with a
        single tile per call raises ``DeviceMemoryError``."""
        total = sum(job.cost for job in jobs)
        results: list[list[Image.Image]] = []
        for job in jobs:
            before = sum(j.cost for j in jobs[: len(results)])

            def report(done: int, cost: int, before: int = before) -> None:
                progress(before + done, total)

            while True:
                tiles = self.max_batch
                try:
                    images = run_task(
                        self.pipeline, job.task, job.image, job.mask, job.options, job.sampler, job.seeds,
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

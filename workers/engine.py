"""The worker's model side: decode a job's stored uploads, prepare the conditioning, sample a batch (split
into chunks of at most ``max_batch`` images, smaller ones after running out of device memory) and turn
samples into PNGs. Knows nothing about RQ."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from model.pipeline import Conditioning, PalettePipeline, RuntimeOptions, resolve_device
from model.runtime.backend import Backend
from model.sampling import SamplerSettings
from model.tasks import Prepared, Task, TaskInputError, get_task
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
    task: Task
    prepared: Prepared
    seeds: list[int]


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
            prepared = task.prepare(image, mask, payload.options, self.pipeline.resolution)
        except (UnusableImageError, TaskInputError) as error:
            raise JobInputError(str(error)) from None
        return PreparedJob(task=task, prepared=prepared, seeds=payload.seeds)

    def _decode(self, inputs: dict[str, bytes], field: str) -> Image.Image:
        return decode_image(
            inputs[field],
            field=field,
            max_pixels=self.settings.max_image_pixels,
            max_side=self.settings.max_image_side,
        ).image

    def sample(
        self, jobs: Sequence[PreparedJob], settings: SamplerSettings, progress: Progress
    ) -> list[np.ndarray]:
        """Every job's samples, (N, H, W, 3) uint8 each, computed in chunks of at most ``max_batch``
        images; sample k of a job depends only on its conditioning and its seed k, so a chunk can be run
        again smaller without changing any result. A chunk that runs out of device memory is run again in
        halves (recursively), and ``max_batch`` stays lowered for the batches that follow; a single image
        that does not fit raises ``DeviceMemoryError``."""
        items = [
            (index, Conditioning(job.prepared.source, job.prepared.mask), seed)
            for index, job in enumerate(jobs)
            for seed in job.seeds
        ]
        outputs: list[np.ndarray] = []  # one image each
        while len(outputs) < len(items):
            done = len(outputs)
            chunk = items[done : done + self.max_batch]

            def report(step: int, total: int, done: int = done, size: int = len(chunk)) -> None:
                progress((done + size * step / total) / len(items))

            conditions, seeds = [c for _, c, _ in chunk], [s for _, _, s in chunk]
            try:
                outputs.extend(self.pipeline.sample(conditions, seeds, settings, progress=report))
            except torch.cuda.OutOfMemoryError as error:  # torch.OutOfMemoryError, whatever the device
                log.warning("out of device memory sampling %d images: %s", len(chunk), error)
                failed = len(chunk)
            else:
                failed = 0
            if failed:  # out of the except block: the failed attempt's tensors are released by now
                self._lower_max_batch(failed)
        owners = np.array([index for index, _, _ in items])
        stacked = np.stack(outputs)
        return [stacked[owners == index] for index in range(len(jobs))]

    def _lower_max_batch(self, failed: int) -> None:
        """After ``failed`` images did not fit: half as many from now on (other processes may have taken
        the memory measured at start-up, or a task's inputs need more than the warm-up's)."""
        if failed == 1:
            raise DeviceMemoryError(
                f"the worker's device ({self.pipeline.device}) ran out of memory sampling a single image"
            )
        if self.pipeline.device.type == "cuda":
            torch.cuda.empty_cache()  # hand the failed attempt's cached blocks back before trying again
        lowered = (failed + 1) // 2
        log.warning("max_batch lowered from %d to %d after running out of memory", self.max_batch, lowered)
        self.max_batch = lowered

    def finalize(self, job: PreparedJob, samples: np.ndarray) -> Output:
        images = [job.task.finalize(sample, job.prepared) for sample in samples]
        return Output(
            pngs=[encode_png(image) for image in images],
            size=ImageInfo(width=images[0].width, height=images[0].height, format="PNG"),
        )

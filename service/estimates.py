"""How long a job will take, before it starts: from the speed the workers measured on their last batch,
which they record in Redis (``palette_denoising_steps_per_second``: tile-steps per second, network
evaluations of one tile at the model's resolution), and the work queued and running ahead of it.

A job's work is its cost in tile-steps, samples x steps x tiles summed over its passes, priced at
submission with the plan the worker runs (:func:`model.fullres.jobs.plan_upload`): a 1024x768 restoration
costs its tiles, an inpainting its coarse pass plus the tiles of its hole. A job at the model's resolution
costs steps x samples, as before tiling.

Honest rather than precise: it assumes the workers keep their last speed, and it ignores that compatible
jobs share a batch (which makes them faster); it is never made up where nothing has been measured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image
from redis import Redis
from rq import Queue

from jobs import queue as rq
from jobs.metrics import worker_speeds
from jobs.store import JobStore
from model.fullres.jobs import plan_upload
from model.tasks import Task
from service.model_card import read_header
from service.schemas import Estimate


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@lru_cache(maxsize=8)
def _model_shape(path: Path, modified: float) -> tuple[int, int] | None:
    try:
        config = json.loads((read_header(path).get("__metadata__") or {}).get("config", "{}"))
        unet = config["unet"]
        return int(unet["image_size"]), len(unet["channel_mult"])
    except (ValueError, KeyError, TypeError):
        return None


def model_shape(weights: Path) -> tuple[int, int] | None:
    """(resolution, U-Net levels) of the served weights, from their header; None when unreadable."""
    try:
        return _model_shape(weights, weights.stat().st_mtime)
    except OSError:
        return None


def job_cost(
    weights: Path,
    task: Task,
    image: Image.Image,
    mask: Image.Image | None,
    options: Mapping[str, str],
    steps: int,
    samples: int,
) -> int | None:
    """The job's tile-steps with the served model, or None when its shape cannot be read."""
    shape = model_shape(weights)
    if shape is None:
        return None
    return plan_upload(task, image, mask, options, steps, samples, *shape).cost


class Estimator:
    def __init__(self, redis: Redis, queue: Queue, store: JobStore) -> None:
        self.redis = redis
        self.queue = queue
        self.store = store

    def estimate(self, image_steps: int, ahead: Sequence[str]) -> Estimate:
        """For a job of ``image_steps`` tile-steps that waits behind the queued jobs ``ahead`` and
        whatever is running."""
        workers = rq.live_worker_names(self.redis, self.queue)
        speeds = list(worker_speeds(self.redis, workers).values())
        if not workers:
            return Estimate(
                start_seconds=None,
                sampling_seconds=None,
                workers=0,
                image_steps_per_second=None,
                basis="no worker is serving the queue, so there is no speed to estimate from",
            )
        if not speeds:
            return Estimate(
                start_seconds=None,
                sampling_seconds=None,
                workers=len(workers),
                image_steps_per_second=None,
                basis="no worker has finished a batch since it started, so their speed is not known yet",
            )
        total = sum(speeds)
        work_ahead = self.store.work_left([*rq.running_jobs(self.queue), *ahead])
        return Estimate(
            start_seconds=round(work_ahead / total, 1),
            sampling_seconds=round(image_steps / (total / len(speeds)), 1),
            workers=len(workers),
            image_steps_per_second=round(total, 1),
            basis=(
                f"{_plural(len(speeds), 'worker')} measured at {total:.0f} denoising steps per second "
                f"(counted per tile of the model's resolution) on their last batch; "
                f"{_plural(len(ahead), 'job')} waiting ahead"
            ),
        )

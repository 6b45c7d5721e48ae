"""How long a job will take, before it starts: from the speed the workers measured on their last batch,
which they record in Redis (``palette_denoising_steps_per_second``, denoising steps x images per second),
and the work queued and running ahead of it (each job's steps x samples, less its progress).

Honest rather than precise: it assumes the workers keep their last speed, and it ignores that compatible
jobs share a batch (which makes them faster); it is never made up where nothing has been measured.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq import Queue

from service import queue as rq
from service.metrics import worker_speeds
from service.schemas import Estimate
from service.store import JobStore


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class Estimator:
    def __init__(self, redis: Redis, queue: Queue, store: JobStore) -> None:
        self.redis = redis
        self.queue = queue
        self.store = store

    def estimate(self, image_steps: int, ahead: Sequence[str]) -> Estimate:
        """For a job of ``image_steps`` (steps x samples) that waits behind the queued jobs ``ahead`` and
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
                f"(counted per image) on their last batch; {_plural(len(ahead), 'job')} waiting ahead"
            ),
        )

"""Gathering compatible jobs into one batch.

After RQ has dequeued a job (into its intermediate queue, as usual), the worker waits up to ``max_wait``
for more jobs with the same sampler settings, until the batch holds ``max_images`` images (the engine's
current ``max_batch``, which drops after the device runs out of memory). Each extra job is
claimed by a Lua script that, atomically, checks that the job is still queued, removes that one id from the
queue list and appends it to the queue's intermediate list, exactly where RQ's own dequeue puts a job: so a
job is never outside RQ's bookkeeping (a worker dying right after claiming leaves it to RQ's intermediate
queue cleanup), and jobs this worker cannot batch are never taken from other workers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

from pydantic import ValidationError
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from jobs.payload import JobPayload
from model.sampler_settings import SamplerSettings

log = logging.getLogger("palette.worker")

CLAIM_SCRIPT = """
if redis.call('HGET', KEYS[3], 'status') ~= ARGV[2] then return 0 end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
"""
POLL_SECONDS = 0.01
SCAN_DEPTH = 200  # how far down each queue to look for compatible jobs


@dataclass(frozen=True)
class Member:
    """A job of the batch being gathered, with the queue it came from and its payload (None when the
    payload is not a valid Palette payload: the job then runs alone, and fails with the reason)."""

    job: Job
    queue: Queue
    payload: JobPayload | None

    @property
    def images(self) -> int:
        return self.payload.num_samples if self.payload else 1


def read_payload(job: Job) -> JobPayload | None:
    try:
        return JobPayload.model_validate(job.kwargs)
    except ValidationError:
        return None


class Gatherer:
    def __init__(self, redis: Redis, queues: list[Queue], max_wait: float) -> None:
        self.redis = redis
        self.queues = queues
        self.max_wait = max_wait
        self._claim = redis.register_script(CLAIM_SCRIPT)

    def gather(self, first: Member, max_images: int) -> list[Member]:
        """``first`` plus the compatible jobs claimed before the deadline, in queue order, up to
        ``max_images`` images in all."""
        members = [first]
        if first.payload is None:
            return members
        key = first.payload.sampler
        images = first.images
        seen: dict[str, JobPayload | None] = {first.job.id: first.payload}
        deadline = time.monotonic() + self.max_wait
        while images < max_images:
            for member in self._compatible_candidates(key, seen, max_images - images):
                if member.images <= max_images - images and self._take(member):
                    members.append(member)
                    images += member.images
            remaining = deadline - time.monotonic()
            if remaining <= 0 or images >= max_images:
                break
            time.sleep(min(POLL_SECONDS, remaining))
        if len(members) > 1:
            log.info("batched %d jobs (%d images): %s", len(members), images, [m.job.id for m in members])
        return members

    def _compatible_candidates(
        self, key: SamplerSettings, seen: dict[str, JobPayload | None], room: int
    ) -> list[Member]:
        """Queued jobs not looked at yet whose sampler settings are ``key``: the model is multi-task, so
        tasks may mix, but one batch walks one sampler's steps."""
        candidates = []
        for queue in self.queues:
            ids = [cast(bytes, raw).decode() for raw in self.redis.lrange(queue.key, 0, SCAN_DEPTH - 1)]
            unseen = [job_id for job_id in ids if job_id not in seen]
            for job in Job.fetch_many(unseen, connection=self.redis, serializer=queue.serializer):
                if job is not None:
                    seen[job.id] = read_payload(job)
                    payload = seen[job.id]
                    if payload is not None and payload.sampler == key and payload.num_samples <= room:
                        candidates.append(Member(job=job, queue=queue, payload=payload))
        return candidates

    def _take(self, member: Member) -> bool:
        queue = member.queue
        claimed = self._claim(
            keys=[queue.key, queue.intermediate_queue_key, member.job.key],
            args=[member.job.id, JobStatus.QUEUED.value],
        )
        return bool(claimed)

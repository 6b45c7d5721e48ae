"""The RQ side of a job: enqueueing with a JSON payload, reading and mapping RQ's status, cancelling, and
counting live workers. Shared by the API and the workers; imports neither torch nor the worker code (the
job's function is referenced by name)."""

from __future__ import annotations

import enum
from typing import cast

from redis import Redis, WatchError
from redis.client import Pipeline
from rq import Queue, Retry, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import CanceledJobRegistry
from rq.serializers import JSONSerializer
from rq.worker_registration import get_keys

from jobs.payload import JobPayload, JobState
from jobs.settings import Settings

# The callable RQ records for every Palette job; BatchWorker runs jobs in batches instead of calling it.
JOB_FUNCTION = "workers.worker.sample_outside_batch_worker"

_STATES = {
    JobStatus.STARTED: JobState.STARTED,
    JobStatus.FINISHED: JobState.FINISHED,
    JobStatus.FAILED: JobState.FAILED,
    JobStatus.STOPPED: JobState.FAILED,
    JobStatus.CANCELED: JobState.CANCELED,
}  # anything else (queued, scheduled for a retry, deferred, ...) is still waiting to run


def public_state(status: JobStatus) -> JobState:
    return _STATES.get(status, JobState.QUEUED)


def rq_queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def enqueue(pipe: Pipeline, queue: Queue, job_id: str, payload: JobPayload, settings: Settings) -> Job:
    """Add the job to ``queue`` within ``pipe``, so that it appears together with its stored inputs."""
    sampler = payload.sampler
    return queue.enqueue_call(
        JOB_FUNCTION,
        kwargs=payload.model_dump(mode="json"),
        job_id=job_id,
        description=f"{payload.task} x{payload.num_samples} ({sampler.kind.value}, {sampler.steps} steps)",
        timeout=settings.job_timeout_seconds,
        ttl=settings.input_ttl_seconds,
        result_ttl=settings.result_ttl_seconds,
        failure_ttl=settings.result_ttl_seconds,
        retry=Retry(max=settings.job_retries) if settings.job_retries else None,
        pipeline=pipe,
    )


def fetch(redis: Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return None


class CancelOutcome(enum.Enum):
    CANCELED = "canceled"  # it was queued or running and is now canceled
    ALREADY_CANCELED = "already canceled"
    ALREADY_ENDED = "already ended"  # finished or failed: nothing to cancel
    UNKNOWN = "unknown"


def cancel(redis: Redis, job_id: str, retention_seconds: int) -> CancelOutcome:
    """Cancel a queued or running job, atomically with respect to a worker that starts or finishes it at the
    same time: status CANCELED and into RQ's canceled registry; a queued job also off the queue (RQ's own
    cancel). A running job's execution is left to its worker, which sees the status and settles the job as
    canceled (or, if the worker died, to RQ's maintenance): RQ's cancel would look the job's executions up
    and fail on one that has just ended, or that has expired while RQ's index still lists it (for 60 s)."""
    while True:
        with redis.pipeline() as pipe:
            try:
                pipe.watch(Job.key_for(job_id))
                job = fetch(redis, job_id)
                if job is None:
                    return CancelOutcome.UNKNOWN
                state = public_state(job.get_status(refresh=False))
                if state is JobState.CANCELED:
                    return CancelOutcome.ALREADY_CANCELED
                if state.is_terminal:
                    return CancelOutcome.ALREADY_ENDED
                pipe.multi()
                if state is JobState.STARTED:
                    job.set_status(JobStatus.CANCELED, pipeline=pipe)
                    registry = CanceledJobRegistry(job.origin, connection=redis, serializer=JSONSerializer)
                    registry.add(job, pipeline=pipe)
                else:
                    job.cancel(pipeline=pipe)
                pipe.expire(job.key, retention_seconds)  # RQ keeps canceled jobs forever otherwise
                pipe.execute()
                return CancelOutcome.CANCELED
            except WatchError:
                continue  # the job changed (a worker took or finished it): look again


def queue_position(queue: Queue, job_id: str) -> int | None:
    """Jobs ahead of ``job_id`` in the queue (None when it is not in the list, e.g. being dequeued)."""
    return cast(int | None, queue.connection.lpos(queue.key, job_id))


def jobs_ahead(queue: Queue, position: int | None) -> list[str]:
    """The ids of the jobs waiting ahead of position ``position`` (all of the queue's for None)."""
    if position == 0:
        return []
    ids = queue.connection.lrange(queue.key, 0, -1 if position is None else position - 1)
    return [job_id.decode() for job_id in cast(list[bytes], ids)]


def running_jobs(queue: Queue) -> list[str]:
    return queue.started_job_registry.get_job_ids(cleanup=False)


def live_worker_names(redis: Redis, queue: Queue | None = None) -> list[str]:
    """Workers (of ``queue``, or all) whose heartbeat key has not expired. A worker killed without
    warning stays registered until maintenance cleans it, so registration alone is not enough."""
    keys = sorted(get_keys(queue=queue, connection=None if queue else redis))
    if not keys:
        return []
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.exists(key)
        alive = pipe.execute()
    return [
        key.removeprefix(Worker.redis_worker_namespace_prefix)
        for key, up in zip(keys, alive, strict=True)
        if up
    ]


def live_workers(redis: Redis, queue: Queue | None = None) -> int:
    return len(live_worker_names(redis, queue))

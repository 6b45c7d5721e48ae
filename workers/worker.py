"""BatchWorker: an RQ worker that runs jobs in-process (no fork: the model is loaded once, CUDA stays
usable) and in batches, while every job of a batch goes through RQ's registries on its own.

For each batch: RQ dequeues the first job; ``Gatherer`` claims compatible ones; each job then gets RQ's
execution record and STARTED status (``prepare_execution`` and ``prepare_job_execution``, as in
``SimpleWorker``); the batch samples under the earliest job deadline (RQ's death penalty) while a thread
keeps every job's heartbeat alive; finally each job is settled with RQ's own success and failure paths
(``_finalize_success``/``_finalize_failure``: Finished/Failed registries, results, retries), or cleaned up
if it was canceled, or put back at the front of the queue if another job's deadline cut the batch short.
A worker killed outright leaves its jobs in the StartedJobRegistry, whose heartbeats then stop: RQ's
maintenance retries them (``Retry``) or fails them as abandoned.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from redis import Redis, RedisError
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException
from rq.worker import WorkerStatus
from rq.worker_registration import register

from jobs.metrics import (
    BATCH_SIZE,
    DENOISING_STEPS,
    END_TO_END,
    IMAGES_GENERATED,
    JOBS_FAILED,
    JOBS_FINISHED,
    QUEUE_WAIT,
    SAMPLING_TIME,
    ClusterMetrics,
)
from jobs.payload import BatchInfo, FailureCode
from jobs.settings import Settings
from jobs.store import JobStore
from workers.batching import Gatherer, Member, read_payload
from workers.engine import (
    DeviceMemoryError,
    JobInputError,
    Output,
    PreparedJob,
    SamplingEngine,
)

log = logging.getLogger("palette.worker")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
PROGRESS_INTERVAL = 0.5  # seconds between progress writes (and cancellation checks) while sampling


def sample_outside_batch_worker(**payload: Any) -> None:
    """The function RQ records for every Palette job (the payload is its keyword arguments). BatchWorker
    never calls it; a stock RQ worker that picks a Palette job up fails it with this explanation instead of
    forking a process and loading the model for a single job."""
    raise RuntimeError("Palette jobs must be run by `palette worker`, which samples them in batches")


class BatchCanceledError(Exception):
    """Every job of the batch was canceled: stop sampling."""


@dataclass
class Running:
    """A job of the running batch and what became of it."""

    member: Member
    execution: Execution
    prepared: PreparedJob | None = None
    output: Output | None = None
    sampling_seconds: float = 0.0
    failure: tuple[str, ExcInfo, FailureCode] | None = None  # message for the user, exception, why
    canceled: bool = False
    requeue: bool = False

    @property
    def job(self) -> Job:
        return self.member.job

    @property
    def pending(self) -> bool:
        return self.failure is None and not self.canceled and not self.requeue and self.output is None

    def fail(self, message: str, exc_info: ExcInfo, code: FailureCode) -> None:
        self.failure = (message, exc_info, code)


def _exc_info() -> ExcInfo:
    kind, value, trace = sys.exc_info()
    assert kind is not None and value is not None
    return kind, value, trace


class BatchWorker(SimpleWorker):
    # RQ doubles its wait between attempts to reach a lost Redis up to 60 s, so a worker could sit idle for
    # up to a minute after Redis came back; capped, it is listed and serving again within seconds.
    max_connection_wait_time = 4.0

    def __init__(
        self, queues: Sequence[Queue], *, connection: Redis, engine: SamplingEngine, settings: Settings,
        model_load_seconds: float, name: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(
            list(queues),
            name=name,
            connection=connection,
            serializer=JSONSerializer,
            default_result_ttl=settings.result_ttl_seconds,
            worker_ttl=settings.worker_ttl_seconds,
            job_monitoring_interval=settings.heartbeat_seconds,
            maintenance_interval=settings.maintenance_interval_seconds,
        )
        self.engine = engine
        self.settings = settings
        self.store = JobStore(connection, settings)
        self.metrics = ClusterMetrics()
        self.model_load_seconds = model_load_seconds
        self.gatherer = Gatherer(connection, self.queues, settings.max_wait_seconds)

    # Registration: the worker's gauges live and die with its heartbeat

    def register_birth(self) -> None:
        super().register_birth()
        with self.connection.pipeline() as pipe:
            self.metrics.set_worker_gauges(
                pipe, self.name, self.worker_ttl + 60, palette_model_load_seconds=self.model_load_seconds
            )
            pipe.execute()

    def register_death(self) -> None:
        super().register_death()
        with self.connection.pipeline() as pipe:
            self.metrics.drop_worker_gauges(pipe, self.name)
            pipe.execute()

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, plus the worker's gauges, plus its listing among the queue's workers: a Redis
        restarted without persistence forgets that listing, and the worker would go on serving while
        ``/readyz`` (and ``rq info``) saw no worker at all."""
        super().heartbeat(timeout, pipeline)
        connection = pipeline if pipeline is not None else self.connection.pipeline()
        register(self, connection)
        self.metrics.keep_worker_gauges(connection, self.name, timeout or self.worker_ttl + 60)
        if pipeline is None:
            connection.execute()

    def clean_registries(self) -> None:
        """RQ's maintenance, plus what it leaves out: RQ never trims its canceled-job registries, where the
        ids of canceled jobs would pile up long after the jobs themselves have expired."""
        super().clean_registries()
        expired = time.time() - self.settings.result_ttl_seconds
        with self.connection.pipeline() as pipe:
            for queue in self.queues:
                pipe.zremrangebyscore(queue.canceled_job_registry.key, 0, expired)
            pipe.execute()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """RQ's forking worker's TTL (not SimpleWorker's job timeout + 60 s), with the grace configured
        rather than RQ's fixed 60 s: the heartbeat thread keeps it fresh, so a dead worker's jobs count as
        abandoned ``heartbeat_grace_seconds`` after its last heartbeat."""
        grace = self.settings.heartbeat_grace_seconds
        if job.timeout and job.timeout > 0:
            return int(min(job.timeout - working_time, self.job_monitoring_interval)) + grace
        return self.job_monitoring_interval + grace

    # Execution

    def execute_job(self, job: Job, queue: Queue) -> None:
        # BUSY first: a SIGTERM while gathering becomes a warm shutdown after this batch, not an exit that
        # strands the claimed jobs in the intermediate queue.
        self.set_state(WorkerStatus.BUSY)
        if job.get_status() != JobStatus.QUEUED:  # canceled while it was being dequeued
            queue.intermediate_queue.remove(job.id)
            self.connection.delete(queue.intermediate_queue.get_first_seen_key(job.id))
        else:
            first = Member(job=job, queue=queue, payload=read_payload(job))
            self.run_batch(self.gatherer.gather(first, max_images=self.engine.max_batch))
        self.set_state(WorkerStatus.IDLE)

    def run_batch(self, members: list[Member]) -> None:
        batch = BatchInfo(id=uuid.uuid4().hex[:12], jobs=len(members), images=sum(m.images for m in members))
        running = [self.register_start(member, batch) for member in members]
        heartbeat = _HeartbeatThread(self, running)
        heartbeat.start()
        try:
            self._run(running)
        except SystemExit:  # cold shutdown (a second SIGTERM): give the unfinished jobs back, then exit
            for item in running:
                item.requeue = item.pending
            raise
        finally:
            heartbeat.stop()
            for item in running:
                self._settle(item)

    def register_start(self, member: Member, batch: BatchInfo) -> Running:
        """Record, as RQ's SimpleWorker does, that this worker runs ``member``: an execution in the
        StartedJobRegistry, status STARTED, out of the intermediate queue (with the marker RQ's maintenance
        may have left there: it would outlive the job by a day); and in the job's record.

        A job canceled between its claim and this start has had its status overwritten by RQ's start; its
        entry in RQ's canceled registry gives it away, and it is only settled as canceled, never run."""
        job = member.job
        timeout = int(job.timeout or self.settings.job_timeout_seconds)
        with self.connection.pipeline() as pipe:  # the record first: "started" is never read without a batch
            self.store.mark_started(pipe, job.id, batch, timeout)
            pipe.execute()
        execution = self.prepare_execution(job)
        self.prepare_job_execution(job, remove_from_intermediate_queue=True)
        self.connection.delete(member.queue.intermediate_queue.get_first_seen_key(job.id))
        running = Running(member=member, execution=execution)
        running.canceled = self.connection.zscore(member.queue.canceled_job_registry.key, job.id) is not None
        with self.connection.pipeline() as pipe:
            if running.canceled:  # as the cancellation left the record: no start, its result TTL
                self.store.unmark_started(pipe, job.id)
                self.store.retire(pipe, job.id)
            elif member.payload is not None and job.enqueued_at and job.started_at:
                wait = (job.started_at - job.enqueued_at).total_seconds()
                self.metrics.observe(pipe, QUEUE_WAIT, max(wait, 0.0), task=member.payload.task)
            pipe.execute()
        return running

    def _run(self, running: list[Running]) -> None:
        for item in running:
            if item.pending:
                self._prepare(item)
        ready = [item for item in running if item.pending]
        if not ready:
            return
        timeouts = [int(item.job.timeout) for item in ready if item.job.timeout and item.job.timeout > 0]
        deadline = min(timeouts) if timeouts else None
        monitor = _ProgressMonitor(self, ready)
        started = time.perf_counter()
        try:
            with self._death_penalty(deadline, ready[0].job.id):
                prepared = [item.prepared for item in ready if item.prepared is not None]
                samples = self.engine.sample(prepared, monitor)
                outputs = [self.engine.finalize(job, out) for job, out in zip(prepared, samples, strict=True)]
        except JobTimeoutException:
            for item in ready:
                if item.job.timeout == deadline:
                    message = f"the job ran out of time (its timeout is {deadline} s)"
                    item.fail(message, _exc_info(), FailureCode.TIMEOUT)
                elif item.pending:
                    item.requeue = True  # cut short by another job's deadline, not its own
            return
        except BatchCanceledError:
            return
        except DeviceMemoryError as error:  # another worker (a bigger device) may manage: RQ may retry it
            for item in ready:
                if item.pending:
                    item.fail(str(error), _exc_info(), FailureCode.OUT_OF_MEMORY)
            return
        except Exception:  # any sampling error fails the batch's jobs, recorded with its traceback
            log.exception("sampling failed for batch of %s", [item.job.id for item in ready])
            for item in ready:
                if item.pending:
                    message = "sampling failed on the worker; see the worker's log"
                    item.fail(message, _exc_info(), FailureCode.SAMPLING_ERROR)
            return
        seconds = time.perf_counter() - started
        for item, output in zip(ready, outputs, strict=True):
            item.sampling_seconds = seconds
            if item.pending:
                item.output = output
        self._record_batch(ready, seconds)

    def _prepare(self, item: Running) -> None:
        payload = item.member.payload
        try:
            if payload is None:
                raise JobInputError("the job's payload is not a Palette job description")
            item.prepared = self.engine.prepare(payload, self.store.inputs(item.job.id))
        except JobInputError as error:
            item.fail(str(error), _exc_info(), FailureCode.INVALID_INPUT)

    def _death_penalty(self, seconds: int | None, job_id: str) -> AbstractContextManager[Any]:
        if seconds is None:
            return nullcontext()
        return self.death_penalty_class(seconds, JobTimeoutException, job_id=job_id)

    def _record_batch(self, items: list[Running], seconds: float) -> None:
        """Metrics of a finished batch; its speed in tile-steps per second (each a network evaluation of one
        tile of the model's resolution: steps x images for jobs at that resolution), what estimates use."""
        images = sum(len(item.prepared.seeds) for item in items if item.prepared)
        work = sum(item.prepared.cost for item in items if item.prepared)
        with self.connection.pipeline() as pipe:
            self.metrics.observe(pipe, BATCH_SIZE, images)
            self.metrics.inc(pipe, DENOISING_STEPS, work)
            speed = work / seconds
            self.metrics.set_worker_gauges(
                pipe, self.name, self.worker_ttl + 60, palette_denoising_steps_per_second=speed
            )
            pipe.execute()

    # Settling each job through RQ

    def _settle(self, item: Running) -> None:
        job, queue, execution = item.job, item.member.queue, item.execution
        if job.get_status() == JobStatus.CANCELED:  # whatever else happened: a canceled job stays canceled
            item.canceled = True
        if item.canceled:
            with self.connection.pipeline() as pipe:
                self.cleanup_execution(job, pipeline=pipe, execution=execution)
                # a job canceled just before it started had its status overwritten and its TTL removed
                job.set_status(JobStatus.CANCELED, pipeline=pipe)
                pipe.expire(job.key, self.settings.result_ttl_seconds)
                pipe.execute()
            log.info("job %s was canceled; its results are discarded", job.id)
        elif item.requeue:
            with self.connection.pipeline() as pipe:
                self.cleanup_execution(job, pipeline=pipe, execution=execution)
                job.started_at = job.ended_at = None
                queue._enqueue_job(job, pipeline=pipe, at_front=True)  # as RQ's own registry.requeue()
                self.store.requeued(pipe, job.id)
                pipe.execute()
            log.info("job %s goes back to the front of the queue", job.id)
        elif item.output is not None:
            self._succeed(item, item.output)
        elif item.failure is not None:
            self._fail(item, *item.failure)

    def _succeed(self, item: Running, output: Output) -> None:
        job, payload = item.job, item.member.payload
        assert payload is not None
        record = self.store.record(job.id)
        with self.connection.pipeline() as pipe:
            self.store.save_results(pipe, job.id, output.pngs, output.size, item.sampling_seconds)
            self.metrics.inc(pipe, JOBS_FINISHED, task=payload.task)
            self.metrics.inc(pipe, IMAGES_GENERATED, len(output.pngs), task=payload.task)
            self.metrics.observe(pipe, SAMPLING_TIME, item.sampling_seconds, task=payload.task)
            if record is not None:
                self.metrics.observe(pipe, END_TO_END, time.time() - record.submitted_at, task=payload.task)
            pipe.execute()
        self._finalize_success(job, item.member.queue, item.execution, {"samples": len(output.pngs)})

    def _fail(self, item: Running, message: str, exc_info: ExcInfo, code: FailureCode) -> None:
        job = item.job
        if not code.retried:
            job.retries_left = 0  # deterministic failures (bad input, timeout): a retry would fail again
        task = item.member.payload.task if item.member.payload else "unknown"
        with self.connection.pipeline() as pipe:
            if job.should_retry:
                self.store.requeued(pipe, job.id)
            else:
                self.store.save_error(pipe, job.id, message, code)
                self.metrics.inc(pipe, JOBS_FAILED, task=task)
            pipe.execute()
        self._finalize_failure(job, item.member.queue, item.execution, exc_info)


class _ProgressMonitor:
    """The sampler's progress callback (``model.runtime.progress.Progress``: the batch's tile-steps done and
    in all): writes the fraction done to the jobs' records and notices cancellations, at most every
    PROGRESS_INTERVAL seconds. Runs on the sampling thread, so it can stop the batch."""

    def __init__(self, worker: BatchWorker, items: list[Running]) -> None:
        self.worker = worker
        self.items = items
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL and done < total:
            return
        fraction = done / total
        self.last = now
        live = [item for item in self.items if not item.canceled]
        with self.worker.connection.pipeline(transaction=False) as pipe:
            for item in live:
                pipe.hget(item.job.key, "status")
            statuses = pipe.execute()
            for item, status in zip(live, statuses, strict=True):
                if status == JobStatus.CANCELED.value.encode():
                    item.canceled = True
                else:
                    self.worker.store.set_progress(pipe, item.job.id, fraction)
            pipe.execute()
        if all(item.canceled for item in self.items):
            raise BatchCanceledError


class _HeartbeatThread(threading.Thread):
    """Keeps the worker's and every job's heartbeat alive while the main thread samples (a batch can run
    for many minutes; RQ would take its jobs for abandoned otherwise)."""

    def __init__(self, worker: BatchWorker, items: list[Running]) -> None:
        super().__init__(name="palette-heartbeat", daemon=True)
        self.worker = worker
        self.items = items
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.worker.job_monitoring_interval):
            for item in self.items:
                try:
                    self.worker.maintain_heartbeats(item.job, item.execution)
                except RedisError as error:
                    log.warning("heartbeat for job %s failed: %s", item.job.id, error)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def make_queues(connection: Redis, names: Sequence[str]) -> list[Queue]:
    return [Queue(name, connection=connection, serializer=JSONSerializer) for name in names]

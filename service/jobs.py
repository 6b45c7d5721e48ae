"""What the API does with jobs: validate and submit, report status, serve samples, cancel. Routers call
this; it raises ``ServiceError`` subclasses that become JSON 4xx/503 answers."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from PIL import Image
from redis import Redis, RedisError
from rq.job import Job

from jobs import queue as rq
from jobs.images import DecodedImage, UnusableImageError, decode_image
from jobs.metrics import JOBS_CANCELED, JOBS_SUBMITTED, ClusterMetrics
from jobs.payload import MAX_SEED, FailureCode, ImageInfo, JobPayload, JobState
from jobs.settings import Settings
from jobs.store import JobRecord, JobStore, idempotency_key
from model.fullres.defaults import default_steps
from model.fullres.jobs import output_size
from model.sampler_settings import SamplerKind
from model.tasks import Task, TaskInputError
from model.weights import resolve_weights
from service.errors import (
    ConflictError,
    GoneError,
    InvalidInputError,
    NotFoundError,
    TooLargeError,
    UnavailableError,
)
from service.estimates import Estimator, job_cost
from service.ratelimit import RateLimiter
from service.schemas import (
    Estimate,
    JobStatus,
    Parameters,
    Readiness,
    SampleLink,
    SamplingForm,
    Timings,
)


@dataclass(frozen=True)
class Upload:
    """The bytes of the multipart files of a submission, by field name (``image``, ``mask``)."""

    files: Mapping[str, bytes]


@dataclass(frozen=True)
class Submission:
    """The job a submission stands for: a new one, or the one an Idempotency-Key replay returns."""

    job_id: str
    created: bool


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _elapsed(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


@dataclass(frozen=True)
class Failure:
    """Why a job failed: a sentence for a person and a code for a program."""

    message: str
    code: FailureCode


def describe_rq_failure(job: Job) -> Failure:
    """For a job that failed without a worker writing why (e.g. its worker died)."""
    trace = job.exc_info or ""
    if "AbandonedJobError" in trace or "stuck in intermediate queue" in trace:
        return Failure(
            "the worker running this job stopped responding (it probably crashed) and retries ran out",
            FailureCode.WORKER_LOST,
        )
    if "Work-horse terminated" in trace or "stopped by user" in trace:
        return Failure("the job was stopped before it could finish", FailureCode.STOPPED)
    last_line = trace.strip().splitlines()[-1] if trace.strip() else "no reason was recorded"
    return Failure(f"the job failed: {last_line}", FailureCode.SAMPLING_ERROR)


class JobService:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.store = JobStore(redis, settings)
        self.queue = rq.rq_queue(redis, settings.queue)
        self.metrics = ClusterMetrics()
        self.rate_limiter = RateLimiter(redis, settings.rate_limit_per_minute)
        self.estimator = Estimator(redis, self.queue, self.store)

    # Submission

    def submit(
        self,
        task: Task,
        form: SamplingForm,
        upload: Upload,
        principal: str,
        idempotency: str | None,
        blank: frozenset[str] = frozenset(),
    ) -> Submission:
        """Validate, store the inputs and enqueue (``blank``: the form fields sent empty); a repeated
        Idempotency-Key with the same request returns the existing job instead. Every attempt counts against
        the caller's rate limit, checked first: decoding the uploads is the expensive part."""
        self.rate_limiter.check(principal)
        image = self._decode(upload, "image")
        mask = self._decode(upload, "mask") if task.needs_mask else None
        options = form.task_options(task, blank)
        try:
            task.validate(image.image, mask.image if mask else None, options)
        except TaskInputError as error:
            raise InvalidInputError(str(error)) from None
        self._check_output_size(task, image, options)

        idem_key = self._idempotency_key(principal, idempotency)
        fingerprint = self._fingerprint(task, form, upload)
        if idem_key and (existing := self.redis.get(idem_key)):
            return Submission(self._replay(cast(bytes, existing), fingerprint), created=False)
        self._admit()

        job_id = secrets.token_urlsafe(16)
        if idem_key and not self.redis.set(idem_key, f"{job_id} {fingerprint}", nx=True, ex=self._idem_ttl):
            replayed = self._replay(
                cast(bytes, self.redis.get(idem_key)), fingerprint
            )  # a concurrent retry won
            return Submission(replayed, created=False)
        sampler = form.sampler_settings
        seed = form.seed if form.seed is not None else secrets.randbelow(MAX_SEED + 1)
        payload = JobPayload(
            task=task.name,
            options=options,
            sampler=sampler,
            seeds=[seed + k for k in range(form.num_samples)],
            cost=job_cost(
                resolve_weights(self.settings.weights),
                task,
                image.image,
                mask.image if mask else None,
                options,
                sampler.steps,
                form.num_samples,
            ),
        )
        record = JobRecord(
            payload=payload,
            input=ImageInfo(width=image.width, height=image.height, format=image.format),
            submitted_at=time.time(),
            owner=principal,
        )
        try:
            with self.redis.pipeline() as pipe:
                pipe.multi()  # explicitly: RQ's enqueue insists on a pipeline in MULTI mode
                self.store.create(pipe, job_id, record, upload.files)
                rq.enqueue(pipe, self.queue, job_id, payload, self.settings)
                self.metrics.inc(pipe, JOBS_SUBMITTED, task=task.name)
                pipe.execute()
        except RedisError:
            if idem_key:
                self.redis.delete(idem_key)
            raise
        return Submission(job_id, created=True)

    def _check_output_size(self, task: Task, image: DecodedImage, options: Mapping[str, str]) -> None:
        """413 when the samples would have more pixels than ``max_pixels`` (uncropping: its canvas)."""
        width, height = output_size(task, image.width, image.height, options)
        limit = self.settings.max_pixels
        if width * height > limit:
            raise TooLargeError(
                f"the {task.name} output would be {width}x{height} ({width * height / 1e6:.2f} megapixels); "
                f"this service samples at most {limit / 1e6:.2f} megapixels (PALETTE_MAX_PIXELS)"
            )

    def _decode(self, upload: Upload, field: str) -> DecodedImage:
        try:
            return decode_image(
                upload.files[field],
                field=field,
                max_pixels=self.settings.max_image_pixels,
                max_side=self.settings.max_image_side,
            )
        except UnusableImageError as error:
            raise InvalidInputError(str(error)) from None

    @property
    def _idem_ttl(self) -> int:
        return self.settings.record_ttl_seconds

    @staticmethod
    def _idempotency_key(principal: str, key: str | None) -> str | None:
        if key is None:
            return None
        if not 1 <= len(key) <= 255:
            raise InvalidInputError("the Idempotency-Key header must be 1 to 255 characters long")
        return idempotency_key(hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest())

    @staticmethod
    def _fingerprint(task: Task, form: SamplingForm, upload: Upload) -> str:
        digest = hashlib.sha256(task.name.encode())
        fields = form.model_dump(mode="json", exclude=set(upload.files))
        digest.update(json.dumps(fields, sort_keys=True).encode())
        for name in sorted(upload.files):
            digest.update(name.encode() + hashlib.sha256(upload.files[name]).digest())
        return digest.hexdigest()

    @staticmethod
    def _replay(stored: bytes, fingerprint: str) -> str:
        job_id, _, stored_fingerprint = stored.decode().partition(" ")
        if stored_fingerprint != fingerprint:
            raise InvalidInputError("this Idempotency-Key was already used for a different request")
        return job_id

    def _admit(self) -> None:
        waiting = self.queue.count
        if waiting >= self.settings.max_queue_length:
            raise UnavailableError(
                f"the queue is full ({waiting} {'job' if waiting == 1 else 'jobs'} waiting); try again later",
                headers={"Retry-After": str(self.settings.retry_after_seconds)},
            )

    # Reads

    def _record(self, job_id: str, principal: str) -> JobRecord:
        """The job's record, for its owner only: anyone else gets the very answer an id never issued gets,
        so that ids cannot be probed."""
        record = self.store.record(job_id)
        if record is not None and record.owner == principal:
            return record
        if record is None and self.store.was_known(job_id, principal):
            raise GoneError(
                f"job {job_id} has expired: jobs and their results are kept for "
                f"{self.settings.result_ttl_seconds} s after they end"
            )
        raise NotFoundError(f"there is no job {job_id}")

    def _read(self, job_id: str, principal: str) -> tuple[JobRecord, JobState, Failure | None]:
        """The job's record, its state and (when it failed) why."""
        # RQ's status before the record: workers write a job's results into its record before telling RQ it
        # has finished, so read in this order a finished job always comes with its samples
        rq_job = rq.fetch(self.redis, job_id)
        record = self._record(job_id, principal)
        written = record.error_code
        failure = Failure(record.error, written) if record.error is not None and written is not None else None
        if rq_job is None and record.finished_at is not None:  # RQ's copy expired a moment before ours
            raise GoneError(f"job {job_id} has expired")
        if rq_job is None:  # RQ dropped it: it waited longer than its ttl without being picked up
            waited = self.settings.input_ttl_seconds
            expired = Failure(
                f"no worker picked the job up within {waited} s; it expired in the queue", FailureCode.EXPIRED
            )
            return record, JobState.FAILED, failure or expired
        state = rq.public_state(rq_job.get_status(refresh=False))
        if state is JobState.FAILED and failure is None:
            failure = describe_rq_failure(rq_job)
        return record, state, failure if state is JobState.FAILED else None

    def state(self, job_id: str, principal: str) -> JobState:
        return self._read(job_id, principal)[1]

    def status(
        self, job_id: str, principal: str, sample_url: Callable[[int], str], inline: bool = False
    ) -> JobStatus:
        record, state, failure = self._read(job_id, principal)
        payload = record.payload
        samples = None
        if state is JobState.FINISHED:
            pngs = self.store.all_samples(job_id) if inline else {}
            if inline and len(pngs) < record.samples:
                raise GoneError(f"the samples of job {job_id} have expired")
            samples = [
                SampleLink(
                    index=k,
                    seed=payload.seeds[k],
                    url=sample_url(k),
                    png_base64=base64.b64encode(pngs[k]).decode() if inline else None,
                )
                for k in range(record.samples)
            ]
        position = rq.queue_position(self.queue, job_id) if state is JobState.QUEUED else None
        return JobStatus(
            job_id=job_id,
            task=payload.task,
            status=state,
            progress=1.0 if state is JobState.FINISHED else record.progress,
            queue_position=position,
            estimate=(
                self.estimator.estimate(payload.work, rq.jobs_ahead(self.queue, position))
                if state is JobState.QUEUED
                else None
            ),
            parameters=Parameters(
                num_samples=payload.num_samples,
                sampler=payload.sampler.kind,
                steps=payload.sampler.steps,
                eta=payload.sampler.eta,
                seed=payload.seeds[0],
                options=payload.options,
            ),
            input=record.input,
            output=record.output,
            timings=Timings(
                submitted_at=datetime.fromtimestamp(record.submitted_at, UTC),
                started_at=_timestamp(record.started_at),
                finished_at=_timestamp(record.finished_at),
                queued_seconds=_elapsed(record.submitted_at, record.started_at),
                sampling_seconds=record.sampling_seconds,
                total_seconds=_elapsed(
                    record.submitted_at, record.finished_at if state.is_terminal else None
                ),
            ),
            batch=record.batch,
            samples=samples,
            error=failure.message if failure else None,
            error_code=failure.code if failure else None,
            expires_at=_timestamp(self.store.expires_at(job_id, record)) if state.is_terminal else None,
        )

    def estimate(
        self,
        sampler: SamplerKind,
        steps: int | None,
        num_samples: int,
        task: Task | None = None,
        size: tuple[int, int] | None = None,
    ) -> Estimate:
        """For a job submitted now, behind everything queued; with ``task`` and the upload's ``size``
        (width, height) its tiles are counted, for inpainting as if the whole photo were the hole and for
        uncropping as if every side were extended (upper bounds: the mask and sides are not known here)."""
        steps = steps or (default_steps(task.name, sampler) if task else sampler.default_steps)
        work = steps * num_samples
        if task is not None and size is not None:
            image = Image.new("L", size)
            mask = Image.new("L", size, 255) if task.needs_mask else None
            options = {
                option.name: "all" if option.name == "sides" else option.default for option in task.options
            }
            cost = job_cost(
                resolve_weights(self.settings.weights), task, image, mask, options, steps, num_samples
            )
            work = cost if cost is not None else work
        return self.estimator.estimate(work, rq.jobs_ahead(self.queue, None))

    def sample(self, job_id: str, principal: str, index: int) -> bytes:
        record, state, failure = self._read(job_id, principal)
        if state is JobState.CANCELED:
            raise GoneError(f"job {job_id} was canceled; it has no samples")
        if failure is not None:
            raise GoneError(f"job {job_id} failed, so it has no samples: {failure.message}")
        if state is not JobState.FINISHED:
            raise ConflictError(f"job {job_id} is {state.value}; samples are available once it has finished")
        if not 0 <= index < record.samples:
            raise NotFoundError(
                f"job {job_id} has samples 0 to {record.samples - 1}; there is no sample {index}"
            )
        png = self.store.sample(job_id, index)
        if png is None:
            raise GoneError(f"the samples of job {job_id} have expired")
        return png

    # Cancellation

    def cancel(self, job_id: str, principal: str, sample_url: Callable[[int], str]) -> JobStatus:
        record = self._record(job_id, principal)
        outcome = rq.cancel(self.redis, job_id, self.settings.result_ttl_seconds)
        if outcome is rq.CancelOutcome.UNKNOWN:
            raise GoneError(f"job {job_id} has expired")
        if outcome in (rq.CancelOutcome.ALREADY_ENDED, rq.CancelOutcome.ALREADY_CANCELED):
            state = self.state(job_id, principal)
            ended = "been canceled" if state is JobState.CANCELED else state.value
            raise ConflictError(f"job {job_id} has already {ended}; there is nothing to cancel")
        if outcome is rq.CancelOutcome.CANCELED:
            with self.redis.pipeline() as pipe:
                self.store.mark_canceled(pipe, job_id)
                self.metrics.inc(pipe, JOBS_CANCELED, task=record.payload.task)
                pipe.execute()  # RQ's canceled registry is trimmed by the workers' maintenance
        return self.status(job_id, principal, sample_url)

    # Health

    def readiness(self) -> Readiness:
        self.redis.ping()
        workers = rq.live_workers(self.redis, self.queue)
        depth = self.queue.count
        if workers == 0:
            raise UnavailableError(f"no worker is serving the queue {self.settings.queue!r}")
        return Readiness(status="ready", workers=workers, queue_depth=depth)

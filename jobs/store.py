"""The Redis layout of a job, shared by the API (which writes inputs and reads results) and the workers
(which read inputs and write progress and results). RQ keeps the job's lifecycle (``rq:job:<id>`` and its
registries); everything Palette-specific lives under ``palette:job:<id>``:

- ``palette:job:<id>``          hash, the job's record (one JSON value per field, see ``JobRecord``)
- ``palette:job:<id>:inputs``   hash, the uploaded bytes (``image``, ``mask``) until the job ends
- ``palette:job:<id>:samples``  hash, PNG bytes per sample index once finished
- ``palette:gone:<id>``         tombstone holding the job's owner; outlives the rest so that an expired id
                                answers 410 (to its owner; 404 to anyone else), not 404

Every key has a TTL: inputs live ``input_ttl`` while queued; the record lives until ``result_ttl`` after
the job ends, like the results and RQ's own job hash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import BaseModel
from redis import Redis
from redis.client import Pipeline
from redis.typing import EncodableT

from jobs.payload import BatchInfo, FailureCode, ImageInfo, JobPayload
from jobs.settings import Settings

PREFIX = "palette"
ANONYMOUS = "anonymous"  # the owner of every job while API keys are off


def record_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def inputs_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:inputs"


def samples_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:samples"


def tombstone_key(job_id: str) -> str:
    return f"{PREFIX}:gone:{job_id}"


def idempotency_key(scope: str) -> str:
    return f"{PREFIX}:idempotency:{scope}"


class JobRecord(BaseModel):
    """What Palette knows about a job beyond RQ's lifecycle."""

    payload: JobPayload
    input: ImageInfo
    submitted_at: float
    owner: str = ANONYMOUS  # who submitted it (a digest of its API key): nobody else may see it
    started_at: float | None = None
    finished_at: float | None = None
    sampling_seconds: float | None = None
    progress: float = 0.0
    batch: BatchInfo | None = None
    output: ImageInfo | None = None
    samples: int = 0
    error: str | None = None
    error_code: FailureCode | None = None

    @classmethod
    def from_hash(cls, fields: Mapping[bytes, bytes]) -> JobRecord:
        return cls.model_validate({key.decode(): json.loads(value) for key, value in fields.items()})


def _encode(fields: Mapping[str, Any]) -> dict[EncodableT, EncodableT]:
    return {name: json.dumps(value) for name, value in fields.items()}


def _bytes_hash(fields: Any) -> dict[bytes, bytes]:
    """HGETALL's answer, typed: this module's connections never decode responses."""
    return cast(dict[bytes, bytes], fields)


class JobStore:
    """Reads and writes of the keys above. Writers take a pipeline so that callers can make them atomic
    with their RQ bookkeeping."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    # Submission (API)

    def create(self, pipe: Pipeline, job_id: str, record: JobRecord, inputs: Mapping[str, bytes]) -> None:
        pipe.hset(record_key(job_id), mapping=_encode(record.model_dump(mode="json", exclude_none=True)))
        pipe.expire(record_key(job_id), self.settings.record_ttl_seconds)
        pipe.hset(inputs_key(job_id), mapping={name: data for name, data in inputs.items()})
        pipe.expire(inputs_key(job_id), self.settings.input_ttl_seconds)
        pipe.set(tombstone_key(job_id), record.owner, ex=self.settings.tombstone_ttl_seconds)

    # Reads (API)

    def record(self, job_id: str) -> JobRecord | None:
        fields = _bytes_hash(self.redis.hgetall(record_key(job_id)))
        return JobRecord.from_hash(fields) if fields else None

    def was_known(self, job_id: str, owner: str) -> bool:
        """True for an id of ``owner``'s that existed and has expired since (its tombstone outlives the
        record); False for other callers, to whom an expired id is as unknown as one never issued."""
        return self.redis.get(tombstone_key(job_id)) == owner.encode()

    def sample(self, job_id: str, index: int) -> bytes | None:
        return cast(bytes | None, self.redis.hget(samples_key(job_id), str(index)))

    def all_samples(self, job_id: str) -> dict[int, bytes]:
        return {int(k): v for k, v in _bytes_hash(self.redis.hgetall(samples_key(job_id))).items()}

    def expires_at(self, job_id: str, record: JobRecord) -> float | None:
        """When an ended job's record and results go: ``result_ttl`` after it ended (set in one pipeline with
        the expiry itself), so that every answer names the same instant; from the key's TTL when the job
        ended without its record being told (a worker died and RQ failed it)."""
        if record.finished_at is not None:
            return record.finished_at + self.settings.result_ttl_seconds
        ttl_ms = self.redis.pttl(record_key(job_id))
        return time.time() + ttl_ms / 1000 if ttl_ms >= 0 else None

    def work_left(self, job_ids: Sequence[str]) -> float:
        """Tile-steps still to run for ``job_ids``, from their payloads' costs and their progress."""
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(record_key(job_id), "payload", "progress")
            found = pipe.execute()
        work = 0.0
        for payload, progress in found:
            if payload is not None:
                job = JobPayload.model_validate_json(payload)
                work += job.work * (1.0 - (json.loads(progress) if progress else 0.0))
        return work

    # Lifecycle (workers; the API for cancellation)

    def inputs(self, job_id: str) -> dict[str, bytes] | None:
        fields = _bytes_hash(self.redis.hgetall(inputs_key(job_id)))
        return {key.decode(): value for key, value in fields.items()} or None

    def mark_started(self, pipe: Pipeline, job_id: str, batch: BatchInfo, timeout: int) -> None:
        """The job is running: its record and inputs must outlive the run, however long it waited."""
        now = time.time()
        pipe.hset(
            record_key(job_id),
            mapping=_encode({"started_at": now, "progress": 0.0, "batch": batch.model_dump()}),
        )
        lifetime = timeout + self.settings.result_ttl_seconds
        pipe.expire(record_key(job_id), lifetime)
        pipe.expire(inputs_key(job_id), lifetime)

    def set_progress(self, pipe: Pipeline, job_id: str, progress: float) -> None:
        pipe.hset(record_key(job_id), "progress", json.dumps(round(progress, 4)))

    def save_results(
        self, pipe: Pipeline, job_id: str, pngs: list[bytes], output: ImageInfo, sampling_seconds: float
    ) -> None:
        ttl = self.settings.result_ttl_seconds
        pipe.hset(samples_key(job_id), mapping={str(k): png for k, png in enumerate(pngs)})
        pipe.expire(samples_key(job_id), ttl)
        fields = {
            "finished_at": time.time(),
            "progress": 1.0,
            "samples": len(pngs),
            "output": output.model_dump(),
            "sampling_seconds": sampling_seconds,
        }
        pipe.hset(record_key(job_id), mapping=_encode(fields))
        self.retire(pipe, job_id)

    def save_error(self, pipe: Pipeline, job_id: str, message: str, code: FailureCode) -> None:
        fields = {"error": message, "error_code": code.value, "finished_at": time.time()}
        pipe.hset(record_key(job_id), mapping=_encode(fields))
        self.retire(pipe, job_id)

    def mark_canceled(self, pipe: Pipeline, job_id: str) -> None:
        pipe.hset(record_key(job_id), "finished_at", json.dumps(time.time()))
        self.retire(pipe, job_id)

    def unmark_started(self, pipe: Pipeline, job_id: str) -> None:
        """The job did not run after all (canceled as it started, or handed back): no start, no batch."""
        pipe.hdel(record_key(job_id), "started_at", "batch")

    def requeued(self, pipe: Pipeline, job_id: str) -> None:
        """The job goes back to the queue: it has not started as far as its record is concerned."""
        self.unmark_started(pipe, job_id)
        pipe.hset(record_key(job_id), "progress", json.dumps(0.0))
        pipe.expire(record_key(job_id), self.settings.record_ttl_seconds)
        pipe.expire(inputs_key(job_id), self.settings.input_ttl_seconds)

    def retire(self, pipe: Pipeline, job_id: str) -> None:
        """The job has ended: drop its inputs, keep its record for ``result_ttl``."""
        pipe.delete(inputs_key(job_id))
        pipe.expire(record_key(job_id), self.settings.result_ttl_seconds)

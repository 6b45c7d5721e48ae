"""What a job is, as both sides of the queue read it: its payload (the RQ job's keyword arguments, JSON),
its public state, and the values its record holds (sizes, batch, why it failed)."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

from model.sampler_settings import SamplerSettings

MAX_SEED = 2**31 - 1


class JobState(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED, JobState.CANCELED)


class FailureCode(enum.StrEnum):
    """Why a job failed, for a client to act on: resubmit changed (``invalid_input``), resubmit as it was
    (the others), or smaller (``out_of_memory``)."""

    INVALID_INPUT = "invalid_input"  # its inputs or settings cannot run on this model: never retried
    TIMEOUT = "timeout"  # it ran past its timeout: never retried
    OUT_OF_MEMORY = "out_of_memory"  # not even one tile fitted: another worker may manage
    SAMPLING_ERROR = "sampling_error"  # the worker's sampling raised: retried while retries last
    WORKER_LOST = "worker_lost"  # its worker stopped responding and retries ran out
    STOPPED = "stopped"  # stopped from outside (RQ's own stop) before it finished
    EXPIRED = "expired"  # no worker picked it up within the inputs' lifetime

    @property
    def retried(self) -> bool:
        """Whether a worker hands the failure to RQ's ``Retry``: only where another run could succeed."""
        return self in (FailureCode.OUT_OF_MEMORY, FailureCode.SAMPLING_ERROR)


class JobPayload(BaseModel):
    """What a worker needs to run a job besides the uploads (stored under the job in Redis): the RQ job's
    keyword arguments, serialised as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    options: dict[str, str] = Field(default_factory=dict)
    sampler: SamplerSettings  # jobs with equal settings can share a batch (the model is multi-task)
    seeds: list[int] = Field(min_length=1)
    # tile-steps (network evaluations of model-resolution tiles) of the whole job, from its plan at the
    # upload's resolution (model.fullres.plan); None: not known when it was submitted (steps x samples)
    cost: int | None = Field(default=None, ge=1)

    @property
    def work(self) -> int:
        """The job's cost in tile-steps: its plan's, else steps x samples."""
        return self.cost if self.cost is not None else self.sampler.steps * self.num_samples

    @property
    def num_samples(self) -> int:
        return len(self.seeds)


class ImageInfo(BaseModel):
    width: int
    height: int
    format: str | None = None


class BatchInfo(BaseModel):
    id: str = Field(description="jobs sampled together share this id")
    jobs: int
    images: int

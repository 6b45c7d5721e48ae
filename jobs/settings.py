"""Every setting of the API and the workers, in one typed object read from ``PALETTE_*`` environment
variables (flags of the ``palette`` commands override them by passing values to the constructor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 2**20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PALETTE_", extra="ignore", frozen=True)

    # Where things are
    redis_url: str = "redis://127.0.0.1:6379/0"  # the queue, the inputs and the results
    queue: str = Field(default="palette", pattern=r"^[A-Za-z0-9_.-]+$")  # RQ queue the API submits to
    weights: Path | None = None  # workers' checkpoint; None: model.weights' default (bundled weights)
    device: str = "auto"  # workers: auto (CUDA if present), cpu, cuda, cuda:1, ...
    # Workers on the CPU: what runs the network (auto: openvino's bf16 on CPUs with native bf16, else
    # onnxruntime's fp32; PyTorch on CUDA and wherever the package is missing), in which precision (auto:
    # that choice; fp32: the exact mode anywhere) and with how many threads (None: torch's, all cores)
    backend: Literal["auto", "torch", "onnxruntime", "openvino"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    threads: int | None = Field(default=None, ge=1)

    # Uploads: the byte limit is enforced while streaming, the pixel limits from the image header
    max_upload_bytes: int = Field(default=25 * MIB, ge=1024)  # whole request body; 413 above
    max_image_pixels: int = Field(default=40_000_000, ge=1)  # decoded area; stops decompression bombs
    max_image_side: int = Field(default=16384, ge=1)
    # Samples: the most pixels an output may have (uncropping: the extended canvas); 413 above. Sampling
    # time and the worker's photo-sized buffers grow with it, the network's memory does not (tiles)
    max_pixels: int = Field(default=4_000_000, ge=1)

    # Requests
    max_samples: int = Field(default=8, ge=1)
    default_samples: int = Field(default=4, ge=1)
    max_steps: int = Field(default=1000, ge=1)

    # Lifetimes, in seconds
    input_ttl_seconds: int = Field(default=3600, ge=1)  # how long a job may wait in the queue
    result_ttl_seconds: int = Field(default=3600, ge=1)  # results and job records, after the job ends
    tombstone_ttl_seconds: int = Field(default=7 * 86400, ge=1)  # expired ids answer 410 (not 404) this long
    job_timeout_seconds: int = Field(default=900, ge=1)  # longest a job may run once started
    job_retries: int = Field(default=2, ge=0)  # re-runs of a job whose worker died

    # Admission control
    max_queue_length: int = Field(default=200, ge=1)  # waiting jobs above which submissions get 503
    retry_after_seconds: int = Field(default=15, ge=1)  # Retry-After of 503 answers

    # Authentication, off while empty: comma-separated keys, sent as 'Authorization: Bearer' or X-API-Key
    api_keys: Annotated[frozenset[str], NoDecode] = frozenset()
    # Job submissions per API key per minute (one budget shared by everyone while keys are off); 0 = no limit
    rate_limit_per_minute: int = Field(default=0, ge=0)

    # Workers
    max_batch: int = Field(default=8, ge=1)  # most images sampled together
    max_wait_seconds: float = Field(default=0.05, ge=0.0)  # how long to wait for more jobs to fill a batch
    heartbeat_seconds: int = Field(default=10, ge=1)  # worker and job heartbeats while sampling
    worker_ttl_seconds: int = Field(default=60, ge=20)  # a silent worker counts as dead after this + 60 s
    # A running job whose worker has sent no heartbeat for heartbeat_seconds + this is abandoned (retried or
    # failed); generous, so that a Redis restart or a stalled heartbeat never gets a live job run twice
    heartbeat_grace_seconds: int = Field(default=60, ge=1)
    maintenance_interval_seconds: int = Field(default=60, ge=1)  # how often abandoned jobs are recovered

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(key.strip() for key in value.split(",") if key.strip())
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.default_samples > self.max_samples:
            raise ValueError(
                f"default_samples ({self.default_samples}) exceeds max_samples ({self.max_samples})"
            )
        if self.tombstone_ttl_seconds < self.record_ttl_seconds:
            raise ValueError(
                f"tombstone_ttl_seconds ({self.tombstone_ttl_seconds}) must cover a job's whole life: "
                f"input_ttl + job_timeout + result_ttl = {self.record_ttl_seconds} s"
            )
        return self

    @property
    def record_ttl_seconds(self) -> int:
        """How long a job's record lives before the job ends: it must outlast queueing and running."""
        return self.input_ttl_seconds + self.job_timeout_seconds + self.result_ttl_seconds

"""Pydantic models at the API's boundary: the per-task request forms and the JSON answers. What a job
carries through the queue to the workers is ``jobs.payload``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, model_validator

from jobs.payload import MAX_SEED, BatchInfo, FailureCode, ImageInfo, JobState
from jobs.settings import Settings
from model.fullres.defaults import default_steps
from model.sampler_settings import SamplerKind, SamplerSettings
from model.tasks import Task

UPLOAD_FIELDS = ("image", "mask")
DEFAULT_SAMPLER = SamplerSettings().kind  # of a submission (and of an estimate) that names none
FORM_MEDIA_TYPE = "multipart/form-data"  # what every task endpoint takes


# Requests


class SamplingForm(BaseModel):
    """Fields every task shares; each task's form adds its uploads and options (see ``task_form``). The
    sampling fields are flat, as a multipart form's are; validation turns them into the one typed value
    the job carries to the worker, ``sampler_settings`` (its rules, eta for DDIM only, are
    ``SamplerSettings``'s own), with the task's default steps when none are given."""

    model_config = ConfigDict(extra="forbid")
    task: ClassVar[Task]  # set by task_form

    num_samples: int
    sampler: SamplerKind
    steps: int | None
    eta: float
    seed: int | None
    _sampler_settings: SamplerSettings = PrivateAttr()

    @model_validator(mode="after")
    def _settle_sampler(self) -> Self:
        steps = self.steps or default_steps(self.task.name, self.sampler)
        self._sampler_settings = SamplerSettings(kind=self.sampler, steps=steps, eta=self.eta)
        return self

    @property
    def sampler_settings(self) -> SamplerSettings:
        return self._sampler_settings

    def read_uploads(self) -> dict[str, bytes]:
        """The bytes of the uploaded files (``image``, and ``mask`` for tasks that take one)."""
        return {
            name: getattr(self, name).file.read() for name in UPLOAD_FIELDS if name in type(self).model_fields
        }

    def task_options(self, task: Task, blank: frozenset[str] = frozenset()) -> dict[str, str]:
        """The task's options; those in ``blank`` were sent empty, which the form parser reads as absent
        (their default): an empty option is a value, and the task's validation refuses it."""
        return {
            option.name: "" if option.name in blank else getattr(self, option.name) for option in task.options
        }


def _steps_description(task: Task) -> str:
    """'default: ddpm 1000, ddim 50, dpmpp_2m 20', the task's defaults (model.fullres.defaults), for people
    reading the OpenAPI document; programs read them from GET /v1/samplers."""
    steps = ", ".join(f"{kind.value} {default_steps(task.name, kind)}" for kind in SamplerKind)
    return f"default: {steps}"


def sampler_infos(tasks: list[Task]) -> list[SamplerInfo]:
    """Every sampler with what a request that names no steps runs, per task."""
    return [
        SamplerInfo(
            name=kind,
            description=kind.description,
            default=kind is DEFAULT_SAMPLER,
            takes_eta=kind.takes_eta,
            default_steps={task.name: default_steps(task.name, kind) for task in tasks},
        )
        for kind in SamplerKind
    ]


def task_form(task: Task, settings: Settings) -> type[SamplingForm]:
    """The multipart form of ``task``'s endpoint, so the OpenAPI document lists exactly its fields."""
    fields: dict[str, Any] = {
        "image": (UploadFile, Field(description="the input photo: PNG, JPEG or WebP, any mode")),
    }
    if task.needs_mask:
        fields["mask"] = (
            UploadFile,
            Field(description="same size as the image; white = the region to generate, black = keep"),
        )
    fields |= {
        "num_samples": (
            int,
            Field(settings.default_samples, ge=1, le=settings.max_samples, description="samples to generate"),
        ),
        "sampler": (
            SamplerKind,
            Field(DEFAULT_SAMPLER, description="; ".join(f"{k.value}: {k.description}" for k in SamplerKind)),
        ),
        "steps": (
            int | None,
            Field(None, ge=1, le=settings.max_steps, description=_steps_description(task)),
        ),
        "eta": (float, Field(0.0, ge=0.0, le=1.0, description="DDIM stochasticity (0 = deterministic)")),
        "seed": (
            int | None,
            Field(
                None, ge=0, le=MAX_SEED, description="sample k uses seed + k; random (and reported) if unset"
            ),
        ),
    }
    for option in task.options:
        fields[option.name] = (str, Field(option.default, description=option.description))
    model: type[SamplingForm] = create_model(
        f"{task.name.title()}Form", __base__=SamplingForm, __doc__=task.description, **fields
    )
    model.task = task
    return model


# Answers


class ErrorResponse(BaseModel):
    detail: str = Field(description="what went wrong, for a human")


class JobAccepted(BaseModel):
    job_id: str
    status: JobState = Field(
        default=JobState.QUEUED,
        description="queued for a new job; the job's state now for an Idempotency-Key replay",
    )
    status_url: str


class TaskOptionInfo(BaseModel):
    name: str
    description: str
    default: str


class TaskInfo(BaseModel):
    name: str
    title: str
    description: str
    needs_mask: bool
    options: list[TaskOptionInfo]
    endpoint: str


class SamplerInfo(BaseModel):
    name: SamplerKind
    description: str
    default: bool = Field(description="the sampler of a request that names none")
    takes_eta: bool = Field(description="whether the eta field applies to it")
    default_steps: dict[str, int] = Field(description="steps of a request that names none, per task")


class Parameters(BaseModel):
    num_samples: int
    sampler: SamplerKind
    steps: int
    eta: float
    seed: int = Field(description="sample k used seed + k")
    options: dict[str, str]


class Timings(BaseModel):
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queued_seconds: float | None = Field(None, description="from submission to the start of sampling")
    sampling_seconds: float | None = Field(None, description="time the batch spent sampling")
    total_seconds: float | None = Field(None, description="from submission to the results")


class Estimate(BaseModel):
    """How long a job will take, from the speed the workers measured on their last batch (tile-steps per
    second) and the work queued and running ahead of it. Null numbers: nothing to base them
    on (no live worker, or none has sampled since it started); ``basis`` says which."""

    start_seconds: float | None = Field(
        description="until sampling starts: the tile-steps ahead of it, at the live workers' speed"
    )
    sampling_seconds: float | None = Field(
        description="sampling itself: its tile-steps (tiles x steps x samples), at one worker's speed"
    )
    workers: int = Field(description="live workers serving the queue")
    image_steps_per_second: float | None = Field(
        description="the live workers' measured speed, together (tile-steps per second: network "
        "evaluations of one model-resolution tile)"
    )
    basis: str = Field(description="what the estimate rests on, for a human")


class SampleLink(BaseModel):
    index: int
    seed: int
    url: str
    png_base64: str | None = Field(None, description="the PNG itself, with ?inline=1")


class JobStatus(BaseModel):
    job_id: str
    task: str
    status: JobState
    progress: float = Field(
        ge=0.0, le=1.0, description="fraction of the sampling done, counted in tiles x steps x samples"
    )
    queue_position: int | None = Field(None, description="jobs ahead of this one while queued (0 = next)")
    estimate: Estimate | None = Field(None, description="while queued: how long until it starts, and samples")
    parameters: Parameters
    input: ImageInfo
    output: ImageInfo | None = Field(
        None, description="size of the samples: the upload's (uncropping: the extended canvas at its scale)"
    )
    timings: Timings
    batch: BatchInfo | None = None
    samples: list[SampleLink] | None = None
    error: str | None = None
    error_code: FailureCode | None = Field(
        None, description="why it failed; invalid_input: resubmitting it unchanged would fail again"
    )
    expires_at: datetime | None = Field(None, description="when results and this record are deleted")


class TaskScore(BaseModel):
    """The model against the best classical baseline on one task, from the evaluation of these weights."""

    task: str = Field(description="the report's table: a task, or a task on one condition (restore-q10)")
    condition: str | None = Field(
        default=None, description="what the table measured, e.g. 'restore: JPEG quality 10'"
    )
    measure: str = Field(description="the evaluation's measure compared (lower is better)")
    model: float
    baseline: str = Field(description="the best baseline on that measure")
    baseline_score: float
    beats_baseline: bool


class ModelEvaluation(BaseModel):
    sampler: str = Field(description="the sampler the scores are for, e.g. ddim:50")
    photos: int | None = Field(None, description="held-out photos the inputs were cut from")
    size: int | None = Field(None, description="side of the square crops the scores are for, in pixels")
    inputs_per_task: int
    tasks: list[TaskScore]


class ModelInfo(BaseModel):
    """What the served weights are, read from the checkpoint's own metadata and, when one was made for
    exactly these weights (same sha256), their evaluation report."""

    weights: str = Field(description="the checkpoint's file name")
    resolution: int | None = Field(None, description="side of the square the model samples at, in pixels")
    parameters: int | None = None
    training_steps: int | None = None
    tasks: list[str] = Field(default_factory=list, description="the tasks it was trained for")
    summary: str = Field(description="what it is good at, in a sentence or two, derived from the evaluation")
    evaluation: ModelEvaluation | None = None


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    workers: int
    queue_depth: int

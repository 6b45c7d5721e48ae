"""One submission endpoint per task of the registry, generated: a task is a registry entry, not a copy of
an endpoint. Each endpoint has its own form model, so the OpenAPI document lists the task's own fields
(the inpainting mask, the uncropping sides, ...)."""

# No ``from __future__ import annotations`` here: the endpoint's annotations must be evaluated where the
# endpoint is defined, because they name the task's form model, a local variable of the factory.

from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Form, Header, Query, Request, Response

from jobs.settings import Settings
from model.sampler_settings import SamplerKind
from model.tasks import Task, get_task, task_names
from service.dependencies import BlankFields, Jobs, Principal, authenticate, require_form
from service.errors import InvalidInputError
from service.jobs import Upload
from service.schemas import (
    DEFAULT_SAMPLER,
    FORM_MEDIA_TYPE,
    ErrorResponse,
    Estimate,
    JobAccepted,
    SamplerInfo,
    SamplingForm,
    TaskInfo,
    TaskOptionInfo,
    sampler_infos,
    task_form,
)

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong API key (when keys are configured)"},
}
ERRORS: dict[int | str, dict[str, Any]] = UNAUTHORIZED | {
    200: {"model": JobAccepted, "description": "an Idempotency-Key replay: the existing job, as it is now"},
    400: {"model": ErrorResponse, "description": f"the body is not valid {FORM_MEDIA_TYPE}"},
    413: {"model": ErrorResponse, "description": "the upload exceeds PALETTE_MAX_UPLOAD_BYTES"},
    415: {"model": ErrorResponse, "description": f"the body is not {FORM_MEDIA_TYPE} (JSON, say)"},
    422: {"model": ErrorResponse, "description": "invalid field, unusable image or mask"},
    429: {"model": ErrorResponse, "description": "over the submissions per minute allowed; see Retry-After"},
    503: {"model": ErrorResponse, "description": "queue full or Redis unavailable; see Retry-After"},
}


def _submit_endpoint(task: Task, form_model: type[SamplingForm]) -> Callable[..., JobAccepted]:
    def submit(
        request: Request,
        response: Response,
        form: Annotated[form_model, Form(media_type=FORM_MEDIA_TYPE)],  # type: ignore[valid-type]
        jobs: Jobs,
        principal: Principal,
        blank: BlankFields,
        idempotency_key: Annotated[
            str | None, Header(description="retrying with the same key returns the same job")
        ] = None,
    ) -> JobAccepted:
        fields = cast(SamplingForm, form)  # the form model is built at run time; mypy cannot see its type
        upload = Upload(fields.read_uploads())
        submission = jobs.submit(task, fields, upload, principal, idempotency_key, blank)
        status_url = str(request.url_for("get_job", job_id=submission.job_id))
        response.headers["Location"] = status_url
        if submission.created:
            return JobAccepted(job_id=submission.job_id, status_url=status_url)
        response.status_code = 200  # nothing new was created: the job as it is now
        state = jobs.state(submission.job_id, principal)
        return JobAccepted(job_id=submission.job_id, status=state, status_url=status_url)

    return submit


def tasks_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["tasks"], dependencies=[Depends(authenticate)])

    @router.get(
        "/estimate",
        summary="How long a job submitted now would wait and sample",
        responses=UNAUTHORIZED | {422: {"model": ErrorResponse, "description": "invalid query parameter"}},
    )
    def estimate(
        jobs: Jobs,
        sampler: Annotated[SamplerKind, Query()] = DEFAULT_SAMPLER,
        steps: Annotated[
            int | None,
            Query(ge=1, le=settings.max_steps, description="default: the task's, else the sampler's"),
        ] = None,
        num_samples: Annotated[int, Query(ge=1, le=settings.max_samples)] = settings.default_samples,
        task: Annotated[
            str | None, Query(description="the task, for its default steps and, with the size, its tiles")
        ] = None,
        width: Annotated[int | None, Query(ge=1, le=settings.max_image_side)] = None,
        height: Annotated[int | None, Query(ge=1, le=settings.max_image_side)] = None,
    ) -> Estimate:
        chosen = None
        if task is not None:
            try:
                chosen = get_task(task)
            except KeyError:
                raise InvalidInputError(f"task: there is no task {task!r}") from None
        size = (width, height) if width is not None and height is not None else None
        return jobs.estimate(sampler, steps, num_samples, chosen, size)

    @router.get("/tasks", summary="The tasks this API serves, with their options", responses=UNAUTHORIZED)
    def list_tasks(request: Request) -> list[TaskInfo]:
        return [
            TaskInfo(
                name=task.name,
                title=task.title,
                description=task.description,
                needs_mask=task.needs_mask,
                options=[
                    TaskOptionInfo(name=o.name, description=o.description, default=o.default)
                    for o in task.options
                ],
                endpoint=str(request.url_for(f"submit_{task.name}")),
            )
            for task in map(get_task, task_names())
        ]

    @router.get(
        "/samplers",
        summary="The samplers, with the steps a request that names none runs, per task",
        responses=UNAUTHORIZED,
    )
    def list_samplers() -> list[SamplerInfo]:
        return sampler_infos([get_task(name) for name in task_names()])

    for name in task_names():
        task = get_task(name)
        router.add_api_route(
            f"/{name}",
            _submit_endpoint(task, task_form(task, settings)),
            methods=["POST"],
            name=f"submit_{name}",
            summary=f"Submit a {task.title.lower()} job",
            description=f"{task.description} Answers 202 with the job's status URL (also in Location).",
            status_code=202,
            response_model=JobAccepted,
            responses=ERRORS,
            dependencies=[Depends(require_form)],
        )
    return router

"""Job status, samples and cancellation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from service.dependencies import Jobs, Principal, authenticate
from service.schemas import ErrorResponse, JobStatus

# RQ's own rule for job ids (it refuses to look up any other); ids issued here are 22 such characters
JobId = Annotated[
    str, Path(description="the id returned on submission", pattern=r"^[A-Za-z0-9_-]+$", max_length=64)
]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong API key (when keys are configured)"},
    404: {"model": ErrorResponse, "description": "no such job (or sample), or another API key's job"},
    410: {"model": ErrorResponse, "description": "the job existed but its record and results have expired"},
    422: {"model": ErrorResponse, "description": "invalid path or query parameter"},
    503: {"model": ErrorResponse, "description": "Redis unavailable"},
}


def _sample_url(request: Request, job_id: str) -> Any:
    return lambda index: str(request.url_for("get_sample", job_id=job_id, index=index))


def jobs_router() -> APIRouter:
    router = APIRouter(
        prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(authenticate)], responses=ERRORS
    )

    @router.get("/{job_id}", name="get_job", summary="A job's status, progress, timings and results")
    def get_job(
        request: Request,
        job_id: JobId,
        jobs: Jobs,
        principal: Principal,
        inline: Annotated[bool, Query(description="include each sample as base64 PNG")] = False,
    ) -> JobStatus:
        return jobs.status(job_id, principal, _sample_url(request, job_id), inline=inline)

    @router.get(
        "/{job_id}/samples/{index}",
        name="get_sample",
        summary="The index-th sample of a finished job, as PNG",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "the sample"},
            409: {"model": ErrorResponse, "description": "the job has not finished"},
        },
    )
    def get_sample(
        job_id: JobId, index: Annotated[int, Path(ge=0)], jobs: Jobs, principal: Principal
    ) -> Response:
        return Response(
            jobs.sample(job_id, principal, index),
            media_type="image/png",
            headers={"Content-Disposition": f'inline; filename="{job_id}-{index}.png"'},
        )

    @router.delete(
        "/{job_id}",
        name="cancel_job",
        summary="Cancel a queued or running job",
        responses={409: {"model": ErrorResponse, "description": "the job has already finished or failed"}},
    )
    def cancel_job(request: Request, job_id: JobId, jobs: Jobs, principal: Principal) -> JobStatus:
        return jobs.cancel(job_id, principal, _sample_url(request, job_id))

    return router

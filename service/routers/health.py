"""Liveness, readiness and Prometheus metrics (unauthenticated: orchestrators and scrapers call them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from service.dependencies import Jobs
from service.metrics import exposition
from service.schemas import ErrorResponse, Health, Readiness

NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Redis unreachable or no live worker"}
}


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The API process is up")
    def healthz() -> Health:
        return Health(status="ok")

    @router.get("/readyz", summary="Redis is reachable and at least one worker is alive", responses=NOT_READY)
    def readyz(jobs: Jobs) -> Readiness:
        return jobs.readiness()

    @router.get(
        "/metrics", summary="Prometheus metrics of the API and the whole cluster", response_class=Response
    )
    def metrics(request: Request) -> Response:
        body, content_type = exposition(request.app.state.metrics_registry)
        return Response(body, media_type=content_type)

    return router

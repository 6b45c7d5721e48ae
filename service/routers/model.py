"""What the served model is: ``GET /v1/model``, read from the weights (see ``service.model_card``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Depends

from jobs.settings import Settings
from model.weights import resolve_weights
from service.dependencies import authenticate
from service.model_card import describe_weights
from service.routers.tasks import UNAUTHORIZED
from service.schemas import ModelInfo


@cache
def _described(weights: Path, modified: float) -> ModelInfo:
    return describe_weights(weights)  # hashes the file: once per file version, not per request


def model_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["model"], dependencies=[Depends(authenticate)])
    weights = resolve_weights(settings.weights)

    @router.get(
        "/model",
        summary="The weights this service is configured with, and what they are good at",
        responses=UNAUTHORIZED,
    )
    def model_info() -> ModelInfo:
        try:
            modified = weights.stat().st_mtime
        except OSError:
            modified = 0.0
        return _described(weights, modified)

    return router

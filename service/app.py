"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis import Redis

from jobs.metrics import ClusterCollector
from jobs.settings import Settings
from model.tasks import task_names
from service.errors import install_error_handlers
from service.jobs import JobService
from service.metrics import HttpMetricsMiddleware, api_registry
from service.routers.docs import docs_router
from service.routers.health import health_router
from service.routers.jobs import jobs_router
from service.routers.model import model_router
from service.routers.tasks import tasks_router
from service.routers.ui import ui_router
from service.uploads import UploadLimitMiddleware

DESCRIPTION = """\
Palette image-to-image diffusion as a service: submit an image to a task endpoint, get **202** and a
status URL, poll it until the job has finished, then download the samples as PNG.

Jobs are queued in Redis and sampled in batches by `palette worker` processes.
"""


def connect(settings: Settings) -> Redis:
    """Short timeouts: a Redis outage must turn into a quick 503, never a hanging request."""
    return Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def create_app(settings: Settings) -> FastAPI:
    registry, http_metrics = api_registry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The Redis client lives as long as the app serves: made when it starts, closed when it stops,
        with the job service and the cluster's metrics that use it."""
        redis = connect(settings)
        cluster = ClusterCollector(redis, settings.queue, task_names())
        registry.register(cluster)
        app.state.jobs = JobService(redis, settings)
        try:
            yield
        finally:
            registry.unregister(cluster)
            redis.close()

    app = FastAPI(
        title="Palette",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: routers/docs.py serves its own
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics_registry = registry
    install_error_handlers(app, settings)
    app.include_router(tasks_router(settings))
    app.include_router(model_router(settings))
    app.include_router(jobs_router())
    app.include_router(health_router())
    app.include_router(ui_router())
    app.include_router(docs_router(app))
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(HttpMetricsMiddleware, metrics=http_metrics)  # outermost: sees every answer
    return app


def app_from_environment() -> FastAPI:
    """Uvicorn's factory: settings from PALETTE_* variables."""
    return create_app(Settings())

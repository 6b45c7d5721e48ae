"""The API process's Prometheus registry: its own HTTP and process metrics, plus the cluster's, which
workers and API replicas record into Redis and a ``jobs.metrics.ClusterCollector`` reads from there at
scrape time, so that one scrape of any replica sees the whole cluster."""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Per-process HTTP metrics, labelled by route template (not raw path) to bound cardinality."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "palette_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "palette_http_request_duration_seconds",
            "Time to answer HTTP requests.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


class HttpMetricsMiddleware:
    """Times every HTTP request, including those answered by other middleware (413, 401, ...)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.observe(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (``/v1/jobs/{job_id}``), or ``unmatched``. FastAPI's
    routes put themselves in the scope; plain Starlette routes (``/openapi.json``) only their endpoint."""
    route = scope.get("route")
    if route is None and (endpoint := scope.get("endpoint")) is not None and "app" in scope:
        route = next((r for r in scope["app"].routes if getattr(r, "endpoint", None) is endpoint), None)
    return str(getattr(route, "path", "unmatched"))


def api_registry() -> tuple[CollectorRegistry, HttpMetrics]:
    """A registry per app (not the global one), so several apps can live in one process (tests), with the
    process's and the HTTP metrics; the app registers the cluster's collector
    (``jobs.metrics.ClusterCollector``) while it holds a Redis connection."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry, HttpMetrics(registry)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST

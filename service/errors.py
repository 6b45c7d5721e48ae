"""Every error the API answers is JSON ``{"detail": "<a sentence for a human>"}`` with a 4xx or 503 status:
validation errors are flattened into one readable message, Redis outages become 503 with Retry-After."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis import RedisError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from jobs.settings import Settings

log = logging.getLogger("palette.api")

HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class ServiceError(Exception):
    """An answer other than success, raised anywhere below the routers."""

    status_code = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class InvalidInputError(ServiceError):
    status_code = 422


class UnauthorizedError(ServiceError):
    status_code = 401


class NotFoundError(ServiceError):
    status_code = 404


class ConflictError(ServiceError):
    status_code = 409


class GoneError(ServiceError):
    status_code = 410


class TooLargeError(ServiceError):
    """The upload (or the output it asks for) is larger than the service's limits."""

    status_code = 413


class UnsupportedMediaTypeError(ServiceError):
    status_code = 415


class TooManyRequestsError(ServiceError):
    status_code = 429


class UnavailableError(ServiceError):
    status_code = 503


def _json(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


_LOCATIONS = ("body", "query", "header", "path")


def describe_validation_error(error: RequestValidationError) -> str:
    """'num_samples: Input should be less than or equal to 8; sampler: ...' from pydantic's error list."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ()) if part not in _LOCATIONS)
        message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "the request is invalid"


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405: every method some route serves on the path. Starlette names only those
    of the first route that matches the path (GET, for a job, though DELETE works too)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def install_error_handlers(app: FastAPI, settings: Settings) -> None:
    retry_after = {"Retry-After": str(settings.retry_after_seconds)}

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return _json(error.status_code, error.detail, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return _json(422, describe_validation_error(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        headers = {"Allow": allowed_methods(request)} if error.status_code == 405 else error.headers
        return _json(error.status_code, str(error.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        """A bug: logged with its traceback (the server logs it again), answered as JSON all the same."""
        log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=error)
        return _json(500, "internal error; it has been logged")

    @app.exception_handler(RedisError)
    async def redis_error(request: Request, error: RedisError) -> JSONResponse:
        log.warning("Redis unavailable while answering %s %s: %s", request.method, request.url.path, error)
        return _json(503, "the job store (Redis) is unavailable; try again shortly", retry_after)

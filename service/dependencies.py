"""FastAPI dependencies: the settings and the job service live on ``app.state`` (the settings set by
``create_app``, the job service with its Redis client by the app's lifespan); authentication is a
dependency of the /v1 routers."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from jobs.settings import Settings
from jobs.store import ANONYMOUS
from service.errors import UnauthorizedError, UnsupportedMediaTypeError
from service.jobs import JobService
from service.schemas import FORM_MEDIA_TYPE

_bearer = HTTPBearer(auto_error=False, description="an API key, when PALETTE_API_KEYS is set")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="alternative to Bearer")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_jobs(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs


def authenticate(
    settings: Annotated[Settings, Depends(get_settings)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key_header)],
) -> str:
    """The caller's identity: a digest of its key, which owns the jobs it submits (no other key can see
    them), scopes its idempotency keys and counts against its rate limit; anyone is ``anonymous`` while no
    API keys are configured."""
    if not settings.api_keys:
        return ANONYMOUS
    presented = bearer.credentials if bearer else api_key
    if presented and any(secrets.compare_digest(presented, key) for key in settings.api_keys):
        return hashlib.sha256(presented.encode()).hexdigest()[:16]
    raise UnauthorizedError(
        "a valid API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_form(request: Request) -> None:
    """A task endpoint's body must be a multipart form: anything else (JSON, most often) would otherwise be
    answered as a form with every field missing ("image: Field required")."""
    sent = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if sent != FORM_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(
            f"this endpoint takes {FORM_MEDIA_TYPE}, with the photo as the file field 'image' "
            f"(curl -F image=@photo.png ...), not {sent or 'a body without a Content-Type'}"
        )


async def blank_fields(request: Request) -> frozenset[str]:
    """The names of the form fields sent empty (the form is parsed once; this reads the parsed copy)."""
    form = await request.form()
    return frozenset(name for name, value in form.multi_items() if value == "")


Principal = Annotated[str, Depends(authenticate)]
BlankFields = Annotated[frozenset[str], Depends(blank_fields)]
Jobs = Annotated[JobService, Depends(get_jobs)]

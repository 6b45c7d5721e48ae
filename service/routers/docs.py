"""The API's documentation page, ``/docs`` (Swagger UI), served whole by the API itself: its script and
stylesheet come from the ``fastapi-offline`` package and the icon is the page's, so it renders without
network access (FastAPI's own page loads them from a CDN and its website). There is no ``/redoc``: ReDoc
shows a logo it fetches from its maker's CDN, and one documentation page is enough."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.errors import NotFoundError
from service.routers.ui import MEDIA_TYPES, STATIC_DIR

ASSETS = files("fastapi_offline") / "static"
ASSET_NAMES = ("swagger-ui-bundle.js", "swagger-ui.css")
ICON = "favicon.svg"  # the page's (service/static)
ASSET_CACHING = "public, max-age=86400"
# Swagger UI would otherwise send the document to validator.swagger.io and show its verdict as a badge.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    assets = {name: (ASSETS / name).read_bytes() for name in ASSET_NAMES} | {
        ICON: (STATIC_DIR / ICON).read_bytes()
    }

    def asset_url(request: Request, name: str) -> str:
        return str(request.url_for("docs_asset", name=name).path)

    @router.get("/docs")
    def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(request.url_for("openapi").path),
            title=f"{app.title} - API documentation",
            swagger_js_url=asset_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset_url(request, "swagger-ui.css"),
            swagger_favicon_url=asset_url(request, ICON),
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @router.get("/docs/assets/{name}", name="docs_asset")
    def docs_asset(name: str) -> Response:
        if name not in assets:
            raise NotFoundError(f"there is no file {name} in the documentation's assets")
        media_type = MEDIA_TYPES.get("." + name.rsplit(".", 1)[-1], "application/octet-stream")
        return Response(assets[name], media_type=media_type, headers={"Cache-Control": ASSET_CACHING})

    return router

"""The browser page's delivery: served at `/` with a strict Content-Security-Policy, versioned assets that
can be cached for good, nothing inline, nothing from elsewhere, and none of it in the API's documentation.
(What the page does is tested in a real browser: tests/browser.)"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from jobs.settings import Settings
from service.app import create_app
from service.routers.ui import STATIC_DIR

ASSET = re.compile(r'(?:src|href)="(static/[^"]+)"')


def asset_urls(html: str) -> list[str]:
    return ASSET.findall(html)


def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' blob: data:"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_page_is_revalidated_on_each_visit_and_unchanged_is_304(client: TestClient) -> None:
    first = client.get("/")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_every_asset_the_page_names_is_versioned_and_cached_for_a_year(client: TestClient) -> None:
    urls = asset_urls(client.get("/").text)
    assert {url.rsplit("/", 1)[1] for url in urls} == {"favicon.svg", "style.css", "app.js"}
    for url in urls:
        answer = client.get(f"/{url}")
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/{urls[-1]}").headers["content-type"] == "text/javascript; charset=utf-8"


def test_scripts_import_only_modules_that_exist() -> None:
    imported = {
        module
        for script in STATIC_DIR.glob("*.js")
        for module in re.findall(r"\bfrom '\./([^']+)';$", script.read_text(), re.MULTILINE)
    }
    assert imported == {"api.js", "painter.js", "viewer.js"}
    assert all((STATIC_DIR / module).is_file() for module in imported)


def test_an_asset_asked_for_under_another_version_is_not_cached_for_good(client: TestClient) -> None:
    answer = client.get("/static/0123456789abcdef/app.js")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-cache"


def test_an_unknown_asset_is_a_json_404(client: TestClient) -> None:
    answer = client.get("/static/any/secrets.env")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "there is no file secrets.env in the page's assets"}


def test_the_page_is_not_part_of_the_api_documentation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/static")]


def test_the_page_needs_no_key_when_the_api_does(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"api_keys": frozenset({"k"})}))) as client:
        assert client.get("/").status_code == 200
        assert client.get("/v1/tasks").status_code == 401


def test_the_page_has_nothing_inline_and_loads_nothing_from_elsewhere() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
    assert "<style" not in html
    assert re.findall(r"\s(?:style|on\w+)=", html) == []  # no inline styles or event handlers
    for path in STATIC_DIR.iterdir():
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")  # an SVG namespace, not a fetch
        assert not re.findall(r"https?://|//[a-z0-9-]+\.[a-z]", text, re.IGNORECASE), path.name
    css = (STATIC_DIR / "style.css").read_text()
    assert "@import" not in css and "url(" not in css  # no fonts or images fetched by the stylesheet

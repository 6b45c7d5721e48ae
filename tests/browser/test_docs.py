"""The API's documentation renders in headless Chromium with the network cut off: everything it needs comes
from the API itself (FastAPI's own page loads Swagger UI from a CDN and stays blank offline)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.harness import open_page, save_screenshot

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture
def offline(browser: Any, api_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """offline(path) -> a page of the API at ``path`` in a browser that reaches nothing but the API: every
    other request is refused, and recorded in ``page.elsewhere``."""
    opened: list[tuple[Any, Any, Any]] = []
    api = urlsplit(api_url).netloc

    def open_(path: str) -> Any:
        context, page, errors = open_page(browser, "about:blank")
        elsewhere: list[str] = []

        def only_the_api(route: Any) -> None:
            if urlsplit(route.request.url).netloc == api:
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort("internetdisconnected")

        context.route("**/*", only_the_api)
        page.elsewhere = elsewhere
        page.goto(f"{api_url}{path}")
        opened.append((context, page, errors))
        return page

    yield open_
    for context, page, errors in opened:
        save_screenshot(page, request.node.name)
        context.close()
        assert not errors.errors, f"the browser reported errors: {errors.errors}"


def test_swagger_ui_renders_every_endpoint_offline(offline: Any) -> None:
    page = offline("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Palette")
    expect(page.locator(".opblock-summary-path", has_text="/v1/inpaint")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/jobs/{job_id}").first).to_be_visible()
    assert page.elsewhere == []

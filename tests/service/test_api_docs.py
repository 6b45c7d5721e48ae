"""The API's documentation works offline: /docs loads its script, stylesheet and icon from the API itself,
never from a CDN or another website. (Rendered with the network off in Chromium:
tests/browser/test_docs.py.)"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

URL = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_the_documentation_page_names_only_files_the_api_serves(client: TestClient) -> None:
    html = client.get("/docs").text
    assets = URL.findall(html)
    assert len(assets) == 3, html  # script, stylesheet, icon
    for asset in assets:
        assert asset.startswith("/"), f"/docs loads {asset} from elsewhere"
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content
    assert not re.findall(r"https?://", html), "/docs names another site"


def test_there_is_no_redoc_page_which_would_fetch_its_logo_from_elsewhere(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


def test_swagger_ui_is_told_not_to_send_the_document_to_an_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_documentation_assets_are_served_with_their_types(client: TestClient) -> None:
    assert (
        client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/docs/assets/favicon.svg").headers["content-type"] == "image/svg+xml"


def test_an_unknown_documentation_asset_is_a_json_404(client: TestClient) -> None:
    answer = client.get("/docs/assets/secrets.env")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "there is no file secrets.env in the documentation's assets"}

"""What surrounds the endpoints: health and readiness, Redis outages, the upload limit, the OpenAPI
document, and the API's independence from torch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue, Worker

from jobs.settings import Settings
from palette.up import free_port
from service.app import create_app


def test_healthz_answers_while_the_process_is_up(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_503_without_a_live_worker(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"detail": "no worker is serving the queue 'palette'"}


def test_readyz_is_200_once_a_worker_is_registered_on_the_queue(client: TestClient, redis: Redis) -> None:
    worker = Worker([Queue("palette", connection=redis)], connection=redis)
    worker.register_birth()
    try:
        assert client.get("/readyz").json() == {"status": "ready", "workers": 1, "queue_depth": 0}
    finally:
        worker.register_death()


@pytest.fixture
def offline_client(settings: Settings) -> Iterator[TestClient]:
    """The API with nothing listening where Redis should be."""
    offline = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(offline)) as client:
        yield client


def test_without_redis_requests_get_503_with_retry_after(
    offline_client: TestClient, image_png: bytes
) -> None:
    answer = offline_client.post("/v1/colorize", files={"image": ("a.png", image_png)})
    assert answer.status_code == 503
    assert answer.json() == {"detail": "the job store (Redis) is unavailable; try again shortly"}
    assert "retry-after" in answer.headers


def test_without_redis_the_process_is_still_healthy_but_not_ready(offline_client: TestClient) -> None:
    assert offline_client.get("/healthz").status_code == 200
    assert offline_client.get("/readyz").status_code == 503


def test_without_redis_metrics_still_answer_and_say_so(offline_client: TestClient) -> None:
    answer = offline_client.get("/metrics")
    assert answer.status_code == 200
    assert "palette_redis_up 0.0" in answer.text


def test_an_upload_declared_larger_than_the_limit_is_refused_before_it_is_read(
    client: TestClient, settings: Settings
) -> None:
    answer = client.post(
        "/v1/colorize", files={"image": ("big.png", b"\0" * (settings.max_upload_bytes + 1))}
    )
    assert answer.status_code == 413
    assert answer.json()["detail"].startswith("the request is larger than the upload limit of 0.2 MiB")


def test_a_streamed_upload_is_cut_off_once_past_the_limit(settings: Settings, redis: Redis) -> None:
    """A chunked body (no Content-Length) from an endless client: reading stops just past the limit."""
    part = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    chunk, chunks_read, sent = b"\0" * 65536, 0, []

    async def endless_body() -> dict:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": part if chunks_read == 1 else chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/colorize", "raw_path": b"/v1/colorize", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"host", b"testserver")],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    anyio.run(create_app(settings), scope, endless_body, send)
    assert sent[0]["status"] == 413
    assert chunks_read <= 1 + settings.max_upload_bytes // len(chunk) + 1  # the part header, then just past


def test_each_task_documents_its_own_form_in_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def form(path: str) -> dict:
        reference = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"][
            "$ref"
        ]
        return schemas[reference.rsplit("/", 1)[1]]

    assert set(form("/v1/inpaint")["required"]) == {"image", "mask"}
    assert "sides" in form("/v1/uncrop")["properties"]
    assert "mask" not in form("/v1/colorize")["properties"]
    assert form("/v1/inpaint")["properties"]["num_samples"]["maximum"] == 4


def test_every_route_documents_its_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]) >= {"200", "404", "410"}
    assert set(spec["paths"]["/v1/inpaint"]["post"]["responses"]) >= {"202", "413", "422", "503"}


def test_a_405_lists_every_method_the_path_allows(client: TestClient) -> None:
    answer = client.put("/v1/jobs/some-job")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET"


def test_a_job_id_rq_could_not_hold_is_refused_as_invalid(client: TestClient) -> None:
    answer = client.get("/v1/jobs/not%20an%20id")
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("job_id: String should match pattern")


def test_the_api_never_imports_torch() -> None:
    code = "import sys, service.app, service.cli; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

"""End-to-end fixtures: a private redis-server, the API as a real uvicorn server (`palette api`) and a real
worker process (`palette worker`) on the tiny checkpoint, all started once per session; an HTTP client and
polling helpers with timeouts, so that nothing can hang."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from jobs.images import encode_png
from palette.up import free_port, stop_process
from tests.conftest import private_redis

STARTUP_SECONDS = 120.0
JOB_SECONDS = 120.0

# The service as the tests configure it: small limits, so that the limits themselves can be tested.
SERVICE_ENV = {
    "PALETTE_MAX_UPLOAD_BYTES": str(2 * 2**20),
    "PALETTE_MAX_IMAGE_PIXELS": "4000000",
    "PALETTE_MAX_SAMPLES": "4",
    "PALETTE_DEFAULT_SAMPLES": "2",
    "PALETTE_DEVICE": "cpu",
    "OMP_NUM_THREADS": "1",  # two processes on two busy cores: spinning OpenMP threads would crawl
}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from private_redis(fallback_db=15)


@pytest.fixture(scope="session")
def service_env(redis_url: str, tiny_checkpoint: Path) -> dict[str, str]:
    return (
        os.environ | SERVICE_ENV | {"PALETTE_REDIS_URL": redis_url, "PALETTE_WEIGHTS": str(tiny_checkpoint)}
    )


Launch = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def launch(tmp_path_factory: pytest.TempPathFactory, service_env: dict[str, str]) -> Iterator[Launch]:
    """launch(name, *palette arguments, env=extra) -> a `palette` subprocess, logging to a file, stopped
    (SIGTERM, then SIGKILL) at the end of the session if still running."""
    logs = tmp_path_factory.mktemp("logs")
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *arguments: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "palette.cli", *arguments],
            env=service_env | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log_path = logs / f"{name}.log"  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        stop_process(process, grace=20)


def log_tail(process: subprocess.Popen[bytes]) -> str:
    return Path(process.log_path).read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process exited ({process.returncode}):\n{log_tail(process)}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s:\n{log_tail(process)}")


@pytest.fixture(scope="session")
def api_url(launch: Launch) -> str:
    port = free_port()
    server = launch("api", "api", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/healthz", server)
    return url


@pytest.fixture(scope="session")
def worker(launch: Launch, api_url: str) -> subprocess.Popen[bytes]:
    """One worker that waits up to a second to fill a batch, so that requests sent together share one."""
    process = launch("worker", "worker", "--max-wait", "1.0", "--name", "e2e-worker")
    wait_for_http(f"{api_url}/readyz", process)
    return process


class ServiceClient:
    """The API over real HTTP, with the polling and downloading every test needs."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def submit(self, task: str, files: dict[str, bytes], **fields: Any) -> str:
        answer = self.http.post(
            f"/v1/{task}",
            files={name: (f"{name}.png", data) for name, data in files.items()},
            data={key: str(value) for key, value in fields.items()},
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job_id"])

    def status(self, job_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"/v1/jobs/{job_id}").json())

    def wait_for(self, job_id: str, *states: str, timeout: float = JOB_SECONDS) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status["status"] in states:
                return status
            assert time.monotonic() < deadline, f"job {job_id} not {states} within {timeout} s: {status}"
            time.sleep(0.1)

    def download(self, status: dict[str, Any]) -> list[np.ndarray]:
        samples = []
        for sample in status["samples"]:
            answer = self.http.get(sample["url"])
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "image/png"
            samples.append(np.asarray(Image.open(io.BytesIO(answer.content))))
        return samples


@pytest.fixture(scope="session")
def service(api_url: str, worker: subprocess.Popen[bytes]) -> Iterator[ServiceClient]:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        yield ServiceClient(http)


@pytest.fixture(scope="session")
def photo_png(photo: np.ndarray) -> bytes:
    return encode_png(Image.fromarray(photo))


@pytest.fixture(scope="session")
def mask(photo: np.ndarray) -> np.ndarray:
    """White (True) where to generate: a box and a stroke, as a user might paint them."""
    region = np.zeros(photo.shape[:2], dtype=bool)
    region[100:220, 150:330] = True
    region[400:420, 40:480] = True
    return region


@pytest.fixture(scope="session")
def mask_png(mask: np.ndarray) -> bytes:
    return encode_png(Image.fromarray(mask.astype(np.uint8) * 255))

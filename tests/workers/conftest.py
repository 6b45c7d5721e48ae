"""Fixtures for the worker's tests: a private Redis, the API (to submit jobs the real way) and a BatchWorker
running in this process, in burst mode, on the tiny checkpoint."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis

from jobs.images import encode_png
from jobs.settings import Settings
from service.app import create_app
from tests.conftest import TINY_RESOLUTION, private_redis
from workers.engine import SamplingEngine
from workers.worker import BatchWorker, make_queues


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from private_redis(fallback_db=14)


@pytest.fixture
def settings(redis_url: str, tiny_checkpoint: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        weights=tiny_checkpoint,
        device="cpu",
        max_wait_seconds=0.0,
        job_retries=1,
        heartbeat_seconds=1,
    )


@pytest.fixture
def api(settings: Settings, redis: Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


PHOTO_SIZE = (TINY_RESOLUTION, TINY_RESOLUTION)  # (width, height): one whole tile, as LONG jobs assume


@pytest.fixture
def image_png(photo: np.ndarray) -> bytes:
    """The photo within the tiny model's resolution: every task samples it in one pass of one tile, so a job
    costs steps x samples tile-steps (the plans of larger uploads: tests/model/test_fullres.py)."""
    return encode_png(Image.fromarray(photo).resize(PHOTO_SIZE))


@pytest.fixture
def mask_png() -> bytes:
    width, height = PHOTO_SIZE
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : height // 2, width // 4 : width // 2] = 255
    return encode_png(Image.fromarray(mask))


Submit = Callable[..., str]


@pytest.fixture
def submit(api: TestClient, image_png: bytes, mask_png: bytes) -> Submit:
    """submit(task="colorize", **form fields) -> job id; few steps by default: batches take milliseconds."""

    def submit_job(task: str = "colorize", **fields: Any) -> str:
        files = {"image": ("photo.png", image_png)}
        if task == "inpaint":
            files["mask"] = ("mask.png", mask_png)
        data = {"steps": 2, "num_samples": 2} | fields
        answer = api.post(f"/v1/{task}", files=files, data={key: str(value) for key, value in data.items()})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job_id"])

    return submit_job


@pytest.fixture(autouse=True)
def _process_state() -> Iterator[None]:
    """Workers run in this process: RQ installs SIGINT/SIGTERM handlers when it works, put back afterwards.
    One torch thread: on a busy 2-core machine OpenMP's spinning threads make tiny batches 100x slower."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def make_worker(settings: Settings, redis: Redis) -> Callable[..., BatchWorker]:
    """make_worker(**settings overrides) -> a BatchWorker on the tiny model; run it with .work(burst=True)."""

    def make(**overrides: Any) -> BatchWorker:
        worker_settings = settings.model_copy(update=overrides)
        engine, seconds = SamplingEngine.load(worker_settings)
        return BatchWorker(
            make_queues(redis, [worker_settings.queue]),
            connection=redis,
            engine=engine,
            settings=worker_settings,
            model_load_seconds=seconds,
        )

    return make


@pytest.fixture
def status(api: TestClient) -> Callable[[str], dict]:
    return lambda job_id: api.get(f"/v1/jobs/{job_id}").json()

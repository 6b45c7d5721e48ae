"""Estimated times, from the speed workers measured on their last batch (recorded in Redis) and the work
ahead: the page shows them before a job starts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis
from rq import Queue, Worker

from jobs.images import encode_png
from jobs.metrics import ClusterMetrics
from jobs.settings import Settings


def submit(client: TestClient, image_png: bytes, **fields: str) -> str:
    """A colorization of ``image_png``: one tile per step and sample when the image is no larger than the
    served model's resolution (:func:`one_tile_png`)."""
    answer = client.post("/v1/colorize", files={"image": ("a.png", image_png)}, data=fields)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


@pytest.fixture
def one_tile_png(small_photo: np.ndarray) -> bytes:
    """The photo at 64x48, within the bundled model's 64x64: its colorization is one pass of one tile, so it
    costs steps x samples tile-steps (the plans of larger uploads: tests/model/test_fullres.py)."""
    return encode_png(Image.fromarray(small_photo).resize((64, 48), Image.Resampling.LANCZOS))


@pytest.fixture
def worker(redis: Redis) -> Iterator[Worker]:
    """A live worker on the API's queue that has not sampled anything yet."""
    worker = Worker([Queue("palette", connection=redis)], connection=redis, name="w1")
    worker.register_birth()
    yield worker
    worker.register_death()


def measured(redis: Redis, worker: Worker, speed: float) -> None:
    """What a worker records after a batch: denoising steps x images per second."""
    with redis.pipeline() as pipe:
        ClusterMetrics().set_worker_gauges(
            pipe, worker.name, ttl=60, palette_denoising_steps_per_second=speed
        )
        pipe.execute()


def test_without_a_worker_there_is_no_estimate_and_the_answer_says_why(client: TestClient) -> None:
    estimate = client.get("/v1/estimate").json()
    assert estimate["start_seconds"] is None and estimate["sampling_seconds"] is None
    assert estimate["workers"] == 0
    assert estimate["basis"] == "no worker is serving the queue, so there is no speed to estimate from"


def test_a_worker_that_has_not_sampled_yet_gives_no_estimate(client: TestClient, worker: Worker) -> None:
    estimate = client.get("/v1/estimate").json()
    assert estimate["sampling_seconds"] is None
    assert estimate["workers"] == 1
    assert "speed is not known yet" in estimate["basis"]


def test_the_estimate_is_steps_times_samples_at_the_measured_speed(
    client: TestClient, redis: Redis, worker: Worker
) -> None:
    measured(redis, worker, 100.0)
    estimate = client.get("/v1/estimate", params={"sampler": "ddpm", "num_samples": 4}).json()
    assert estimate["sampling_seconds"] == 40.0  # 1000 steps (ddpm's default) x 4 images / 100 per second
    assert estimate["start_seconds"] == 0.0  # nothing ahead
    assert estimate["image_steps_per_second"] == 100.0


def test_the_wait_counts_the_work_queued_ahead(
    client: TestClient, redis: Redis, worker: Worker, one_tile_png: bytes
) -> None:
    measured(redis, worker, 100.0)
    submit(client, one_tile_png, steps="50", num_samples="2")  # 100 image-steps
    submit(client, one_tile_png, steps="25", num_samples="4")  # 100 more
    estimate = client.get("/v1/estimate", params={"steps": 10, "num_samples": 1}).json()
    assert estimate["start_seconds"] == 2.0
    assert estimate["sampling_seconds"] == 0.1
    assert estimate["basis"].endswith("2 jobs waiting ahead")


def test_a_queued_job_reports_when_it_should_start(
    client: TestClient, redis: Redis, worker: Worker, one_tile_png: bytes
) -> None:
    measured(redis, worker, 50.0)
    first = submit(client, one_tile_png, steps="50", num_samples="2")
    second = submit(client, one_tile_png, steps="50", num_samples="1")
    assert client.get(f"/v1/jobs/{first}").json()["estimate"]["start_seconds"] == 0.0
    estimate = client.get(f"/v1/jobs/{second}").json()["estimate"]
    assert estimate["start_seconds"] == 2.0  # the first job's 100 image-steps at 50 per second
    assert estimate["sampling_seconds"] == 1.0


def test_an_ended_job_has_no_estimate(client: TestClient, image_png: bytes) -> None:
    job_id = submit(client, image_png)
    client.delete(f"/v1/jobs/{job_id}")
    assert client.get(f"/v1/jobs/{job_id}").json()["estimate"] is None


def test_an_estimate_beyond_the_limits_is_a_422(client: TestClient, settings: Settings) -> None:
    answer = client.get("/v1/estimate", params={"num_samples": settings.max_samples + 1})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("num_samples: Input should be less than or equal to 4")

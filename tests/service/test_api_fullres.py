"""Jobs at the upload's resolution (issue 13), as the API prices and limits them: a pixel limit on the
output with a clear 413, estimates that count tiles, and per-task default steps from one table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue, Worker

from jobs.metrics import ClusterMetrics
from jobs.settings import Settings
from model.fullres.defaults import default_steps
from model.sampler_settings import SamplerKind
from service.app import create_app


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """The service's test limits with room for 20,000 output pixels: a 128x96 photo (12,288) fits, its
    uncropping on every side (256x192) does not."""
    return Settings(
        redis_url=redis_url, max_image_side=2000, max_samples=4, default_samples=2, max_pixels=20_000
    )


@pytest.fixture
def client(settings: Settings, redis: Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def worker(redis: Redis) -> Iterator[Worker]:
    worker = Worker([Queue("palette", connection=redis)], connection=redis, name="w1")
    worker.register_birth()
    with redis.pipeline() as pipe:  # it measured 36 tile-steps per second on its last batch
        ClusterMetrics().set_worker_gauges(pipe, worker.name, ttl=60, palette_denoising_steps_per_second=36.0)
        pipe.execute()
    yield worker
    worker.register_death()


def test_an_output_above_max_pixels_is_a_413_that_names_the_limit(
    client: TestClient, image_png: bytes
) -> None:
    answer = client.post("/v1/uncrop", files={"image": ("a.png", image_png)}, data={"sides": "all"})
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        "the uncrop output would be 256x192 (0.05 megapixels); this service samples at most 0.02 megapixels "
        "(PALETTE_MAX_PIXELS)"
    )
    assert client.post("/v1/restore", files={"image": ("a.png", image_png)}).status_code == 202


def test_a_queued_jobs_estimate_counts_its_tiles_steps_and_samples(
    client: TestClient, worker: Worker, image_png: bytes
) -> None:
    fields = {"steps": "3", "num_samples": "2"}
    first = client.post("/v1/restore", files={"image": ("a.png", image_png)}, data=fields).json()["job_id"]
    second = client.post("/v1/restore", files={"image": ("a.png", image_png)}, data=fields).json()["job_id"]
    # 128x96 on the bundled model's 64x64 tiles overlapping by 16: 3 x 2 tiles; restoration runs all 3
    # steps (below its partial start) from the JPEG; 2 samples: 36 tile-steps, one second at the measured
    # speed
    assert client.get(f"/v1/jobs/{first}").json()["estimate"]["sampling_seconds"] == 1.0
    assert client.get(f"/v1/jobs/{second}").json()["estimate"]["start_seconds"] == 1.0


def test_the_estimate_endpoint_counts_the_tiles_of_a_given_size(client: TestClient, worker: Worker) -> None:
    params = {"task": "restore", "steps": 3, "num_samples": 2, "width": 128, "height": 96}
    assert client.get("/v1/estimate", params=params).json()["sampling_seconds"] == 1.0
    assert client.get("/v1/estimate", params=params | {"task": "nope"}).status_code == 422


def test_a_task_without_steps_gets_its_full_resolution_default(client: TestClient, image_png: bytes) -> None:
    ancestral = {"sampler": "ddpm"}  # restoration's own default, as ddim's is now the sampler's
    answer = client.post("/v1/restore", files={"image": ("a.png", image_png)}, data=ancestral)
    job_id = answer.json()["job_id"]
    steps = client.get(f"/v1/jobs/{job_id}").json()["parameters"]["steps"]
    assert steps == default_steps("restore", SamplerKind.DDPM) != SamplerKind.DDPM.default_steps
    form = client.get("/openapi.json").json()["components"]["schemas"]["RestoreForm"]
    assert f"ddpm {steps}" in form["properties"]["steps"]["description"]

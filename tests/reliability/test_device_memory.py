"""Running out of device memory: the worker runs the job again with half as many tiles per network call
until they fit, keeps the lower number for later jobs and carries on; one tile that does not fit fails its
job with a reason. (Samples are at the upload's resolution, on tiles: memory follows the tiles per call.)

A GPU cannot be made to run out of memory on demand (nor a CPU-only CI machine to have one), so the worker
runs in this process on the tiny model behind a network that raises ``torch.cuda.OutOfMemoryError``, as
PyTorch does, for calls with more tiles than it pretends to have room for. Jobs go through the real API and
Redis.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from redis import Redis

from jobs.settings import Settings
from model.pipeline import PalettePipeline
from service.app import create_app
from workers.engine import SamplingEngine
from workers.worker import BatchWorker, make_queues


class ScarceMemoryPipeline:
    """The real pipeline on a device with room for ``room`` tiles per network call; records every call."""

    def __init__(self, pipeline: PalettePipeline, room: int) -> None:
        self.pipeline = pipeline
        self.room = room
        self.attempts: list[int] = []
        self.sampler = SimpleNamespace(runner=self._runner)  # what the full-resolution sampler calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)

    def _runner(
        self, source: torch.Tensor, mask: torch.Tensor, y_t: torch.Tensor, gamma: torch.Tensor
    ) -> Any:
        self.attempts.append(y_t.shape[0])
        if y_t.shape[0] > self.room:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {y_t.shape[0] * 64} MiB (room for {self.room})"
            )
        return self.pipeline.sampler.runner(source, mask, y_t, gamma)


@pytest.fixture
def settings(redis_url: str, queue_name: str, tiny_checkpoint: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        queue=queue_name,
        weights=tiny_checkpoint,
        device="cpu",
        max_batch=8,
        max_wait_seconds=0.0,
        job_retries=1,
    )


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(autouse=True)
def _in_process_worker() -> Iterator[None]:
    """The worker runs here: RQ installs SIGINT/SIGTERM handlers (put back afterwards); one torch thread."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def scarce_worker(settings: Settings, redis: Redis, room: int) -> tuple[BatchWorker, ScarceMemoryPipeline]:
    engine, seconds = SamplingEngine.load(settings)
    pipeline = ScarceMemoryPipeline(engine.pipeline, room)
    engine.pipeline = pipeline  # type: ignore[assignment]
    worker = BatchWorker(
        make_queues(redis, [settings.queue]),
        connection=redis,
        engine=engine,
        settings=settings,
        model_load_seconds=seconds,
    )
    return worker, pipeline


def submit(api: TestClient, image: bytes, **fields: Any) -> str:
    data = {"steps": 2, "num_samples": 2} | fields
    answer = api.post(  # restoration of a 64x64 photo: 9 tiles of the tiny model's 32x32 per sample
        "/v1/restore", files={"image": ("a.png", image)}, data={k: str(v) for k, v in data.items()}
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def test_a_job_that_runs_out_of_memory_is_run_again_with_half_the_tiles_and_every_job_finishes(
    api: TestClient, settings: Settings, redis: Redis, photo_png: bytes
) -> None:
    jobs = [submit(api, photo_png, seed=k) for k in range(4)]  # 8 images of 9 tiles: one batch
    worker, pipeline = scarce_worker(settings, redis, room=3)
    worker.work(burst=True)
    assert pipeline.attempts[:3] == [8, 4, 2]
    assert max(pipeline.attempts[3:]) == 2
    for job_id in jobs:
        status = api.get(f"/v1/jobs/{job_id}").json()
        assert status["status"] == "finished", status
        assert status["batch"]["images"] == 8
        assert api.get(f"/v1/jobs/{job_id}/samples/1").status_code == 200


def test_the_lowered_number_of_tiles_is_kept_for_the_jobs_that_follow(
    api: TestClient, settings: Settings, redis: Redis, photo_png: bytes
) -> None:
    worker, pipeline = scarce_worker(settings, redis, room=3)
    submit(api, photo_png, num_samples=4)
    worker.work(burst=True)
    later = [submit(api, photo_png, seed=k) for k in range(3)]
    pipeline.attempts.clear()
    worker.work(burst=True)
    assert max(pipeline.attempts) == 2  # never 8 tiles per call again
    assert worker.engine.max_batch == 2
    assert {api.get(f"/v1/jobs/{job_id}").json()["status"] for job_id in later} == {"finished"}


def test_a_single_tile_that_does_not_fit_fails_its_job_with_a_reason(
    api: TestClient, settings: Settings, redis: Redis, photo_png: bytes
) -> None:
    job_id = submit(api, photo_png, num_samples=1)
    worker, pipeline = scarce_worker(settings, redis, room=0)
    worker.work(burst=True)
    assert pipeline.attempts == [8, 4, 2, 1, 1]  # halved to one tile; RQ's retry (PALETTE_JOB_RETRIES=1)
    status = api.get(f"/v1/jobs/{job_id}").json()
    assert status["status"] == "failed"
    assert status["error"] == "the worker's device (cpu) ran out of memory sampling a single tile"

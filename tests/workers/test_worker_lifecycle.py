"""Every job of a batch moves through RQ's registries on its own: finished, failed (bad input, timeout),
canceled while running, put back when another job's deadline cuts the batch short, recovered when its
worker dies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.payload import BatchInfo
from jobs.queue import cancel
from jobs.settings import Settings
from jobs.store import ANONYMOUS, inputs_key, record_key, samples_key
from model.checkpoint import save_checkpoint
from service.app import create_app
from service.jobs import JobService
from tests.conftest import random_network, tiny_model_config
from tests.workers.harness import tap_progress
from workers.batching import Member, read_payload
from workers.worker import BatchWorker

Submit = Callable[..., str]
Status = Callable[[str], dict]
LONG = 1000  # ddim steps that keep the tiny model busy for several seconds


def rq_queue(redis: Redis) -> Queue:
    return Queue("palette", connection=redis, serializer=JSONSerializer)


def cancel_once_started(redis: Redis, settings: Settings, job_id: str) -> threading.Thread:
    """Cancel ``job_id`` through the API's job service as soon as a worker has started it."""

    def run() -> None:
        jobs = JobService(redis, settings)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (
                Job.fetch(job_id, connection=redis, serializer=JSONSerializer).get_status()
                == JobStatus.STARTED
            ):
                jobs.cancel(job_id, ANONYMOUS, sample_url=str)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_finished_job_leaves_results_in_rq_and_palettes_keys(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, settings: Settings
) -> None:
    job_id = submit()
    make_worker().work(burst=True)
    queue = rq_queue(redis)
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    assert job.latest_result().return_value == {"samples": 2}
    assert job_id in queue.finished_job_registry.get_job_ids()
    assert queue.started_job_registry.get_job_ids() == []
    assert queue.intermediate_queue.get_job_ids() == []
    assert not redis.exists(inputs_key(job_id))
    assert 0 < redis.ttl(samples_key(job_id)) <= settings.result_ttl_seconds


def test_a_job_with_unusable_inputs_fails_alone_and_is_not_retried(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, status: Status
) -> None:
    broken, fine = submit(), submit()
    redis.delete(inputs_key(broken))  # as if they had expired while the job waited
    make_worker().work(burst=True)
    assert status(fine)["status"] == "finished"
    answer = status(broken)
    assert answer["status"] == "failed"
    assert answer["error"].startswith("the job's uploads have expired")
    assert answer["error_code"] == "invalid_input"
    assert broken in rq_queue(redis).failed_job_registry.get_job_ids()
    assert Job.fetch(broken, connection=redis, serializer=JSONSerializer).retries_left == 0


@pytest.fixture
def ten_step_checkpoint(tmp_path: Path) -> Path:
    """The tiny model, with a sampling schedule of 10 levels: no sampler can walk more steps."""
    config = tiny_model_config()
    schedule = replace(config.diffusion.sample_schedule, num_steps=10)
    config = replace(config, diffusion=replace(config.diffusion, sample_schedule=schedule))
    return save_checkpoint(tmp_path / "ten-steps.safetensors", random_network(config).state_dict(), config)


def test_steps_the_model_cannot_walk_fail_as_an_input_error_and_are_not_retried(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, status: Status,
    ten_step_checkpoint: Path,
) -> None:  # fmt: skip
    too_many, walkable = submit(steps=20), submit(steps=10)  # the API allows 1000: it has no model loaded
    make_worker(weights=ten_step_checkpoint).work(burst=True)
    assert status(walkable)["status"] == "finished"
    answer = status(too_many)
    assert answer["status"] == "failed"
    assert answer["error_code"] == "invalid_input"
    assert answer["error"].startswith("the served model cannot sample 20 steps with ddim")
    assert "between 1 and 10" in answer["error"]
    assert Job.fetch(too_many, connection=redis, serializer=JSONSerializer).retries_left == 0
    assert too_many in rq_queue(redis).failed_job_registry.get_job_ids()
    assert rq_queue(redis).job_ids == []  # not back in the queue for another try


def test_a_job_that_runs_out_of_time_fails_with_a_timeout_reason(
    redis: Redis,
    settings: Settings,
    image_png: bytes,
    make_worker: Callable[..., BatchWorker],
    status: Status,
) -> None:
    with TestClient(create_app(settings.model_copy(update={"job_timeout_seconds": 1}))) as short_lived:
        job_id = short_lived.post(
            "/v1/colorize", files={"image": ("a.png", image_png)}, data={"steps": LONG, "num_samples": 1}
        ).json()["job_id"]
    started = time.monotonic()
    make_worker().work(burst=True)
    assert time.monotonic() - started < 5
    answer = status(job_id)
    assert answer["status"] == "failed"
    assert answer["error"] == "the job ran out of time (its timeout is 1 s)"
    assert answer["error_code"] == "timeout"


def test_a_job_cut_short_by_another_jobs_deadline_goes_back_to_the_queue_and_finishes(
    redis: Redis, settings: Settings, image_png: bytes, submit: Submit,
    make_worker: Callable[..., BatchWorker], status: Status,
) -> None:  # fmt: skip
    fields = {"steps": 600, "num_samples": 1}
    with TestClient(create_app(settings.model_copy(update={"job_timeout_seconds": 1}))) as short_lived:
        hasty = short_lived.post("/v1/colorize", files={"image": ("a.png", image_png)}, data=fields).json()[
            "job_id"
        ]
    patient = submit(**fields)
    make_worker().work(burst=True)
    assert status(hasty)["status"] == "failed"
    assert status(patient)["status"] == "finished"
    assert status(patient)["batch"]["jobs"] == 1  # its second run, alone


def test_canceling_a_running_job_stops_its_batch_early(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, settings: Settings, status: Status
) -> None:
    job_id = submit(steps=LONG, num_samples=1)
    worker = make_worker()
    reports = tap_progress(worker)
    canceler = cancel_once_started(redis, settings, job_id)
    worker.work(burst=True)
    canceler.join()
    (total,) = {total for _, total in reports}
    assert total == LONG
    assert reports[-1][0] < LONG // 2  # it stopped within a progress interval of the cancellation
    assert status(job_id)["status"] == "canceled"
    queue = rq_queue(redis)
    assert queue.started_job_registry.get_job_ids() == []
    assert job_id in queue.canceled_job_registry.get_job_ids()
    assert not redis.exists(samples_key(job_id))


def test_a_job_canceled_in_a_running_batch_is_discarded_while_the_others_finish(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, settings: Settings, status: Status
) -> None:
    canceled, kept = submit(steps=300, num_samples=1), submit(steps=300, num_samples=1)
    canceler = cancel_once_started(redis, settings, canceled)
    make_worker().work(burst=True)
    canceler.join()
    assert status(kept)["status"] == "finished"
    assert status(canceled)["status"] == "canceled"
    assert canceled not in rq_queue(redis).finished_job_registry.get_job_ids()


def test_a_job_canceled_while_it_was_being_dequeued_is_skipped(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, status: Status
) -> None:
    job_id = submit()
    worker = make_worker()
    job, queue = Queue.dequeue_any(worker.queues, None, connection=redis, serializer=JSONSerializer)
    cancel(redis, job_id, retention_seconds=60)
    worker.execute_job(job, queue)
    assert status(job_id)["status"] == "canceled"
    assert queue.intermediate_queue.get_job_ids() == []
    assert queue.started_job_registry.get_job_ids() == []


def test_a_job_canceled_after_it_was_claimed_but_before_it_started_ends_canceled(
    submit: Submit,
    make_worker: Callable[..., BatchWorker],
    redis: Redis,
    status: Status,
    api: TestClient,
    settings: Settings,
) -> None:
    """RQ's start overwrites the status of a job canceled in between; the worker must not run it."""
    first, claimed = submit(), submit()
    worker = make_worker()
    job, queue = Queue.dequeue_any(worker.queues, None, connection=redis, serializer=JSONSerializer)
    members = worker.gatherer.gather(Member(job, queue, read_payload(job)), max_images=8)
    assert [member.job.id for member in members] == [first, claimed]
    assert api.delete(f"/v1/jobs/{claimed}").json()["status"] == "canceled"
    worker.run_batch(members)
    assert status(first)["status"] == "finished"
    assert status(claimed)["status"] == "canceled"
    assert status(claimed)["batch"] is None  # it never ran in one
    assert status(claimed)["timings"]["started_at"] is None
    assert 0 < redis.ttl(record_key(claimed)) <= settings.result_ttl_seconds  # not the running job's TTL
    assert redis.ttl(f"rq:job:{claimed}") > 0  # RQ's start had removed the TTL the cancellation set
    assert queue.started_job_registry.get_job_ids() == []


def test_a_job_reads_started_only_once_its_record_names_its_batch(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, status: Status
) -> None:
    """RQ's start (status STARTED) and the job's record are written separately; a client polling in
    between must not see a started job without its batch."""
    submit()
    worker = make_worker()
    seen_at_rqs_start: list[dict[str, Any]] = []
    rqs_start = worker.prepare_job_execution

    def start_then_look(job: Job, **options: Any) -> None:
        rqs_start(job, **options)
        seen_at_rqs_start.append(status(job.id))

    worker.prepare_job_execution = start_then_look  # type: ignore[method-assign]
    job, queue = Queue.dequeue_any(worker.queues, None, connection=redis, serializer=JSONSerializer)
    worker.register_start(Member(job, queue, read_payload(job)), BatchInfo(id="b", jobs=1, images=2))
    (seen,) = seen_at_rqs_start
    assert seen["status"] == "started"
    assert seen["batch"] == {"id": "b", "jobs": 1, "images": 2}


def test_a_running_job_can_be_canceled_while_rq_still_lists_an_expired_execution(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, api: TestClient
) -> None:
    """RQ keeps listing an execution for 60 s after it has expired (a dead worker's, before a retry); its
    own cancel would fail looking it up."""
    job_id = submit()
    worker = make_worker()
    job, origin = Queue.dequeue_any(worker.queues, None, connection=redis, serializer=JSONSerializer)
    running = worker.register_start(
        Member(job, origin, read_payload(job)), BatchInfo(id="b", jobs=1, images=2)
    )
    redis.delete(running.execution.key)  # what its TTL does
    answer = api.delete(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200
    assert answer.json()["status"] == "canceled"


def test_maintenance_trims_rqs_canceled_registry_once_the_jobs_have_expired(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, settings: Settings
) -> None:
    kept, expired = submit(), submit()
    for job_id in (kept, expired):
        cancel(redis, job_id, retention_seconds=60)
    registry = rq_queue(redis).canceled_job_registry
    redis.zadd(registry.key, {expired: time.time() - settings.result_ttl_seconds - 1})  # canceled long ago
    make_worker().clean_registries()
    assert registry.get_job_ids() == [kept]


def test_a_job_whose_worker_died_is_retried_then_failed_with_a_reason(
    submit: Submit, make_worker: Callable[..., BatchWorker], redis: Redis, status: Status
) -> None:
    """The worker registers the job, then vanishes; once the job's heartbeat is overdue RQ's maintenance
    retries it (job_retries=1), and after the second death fails it."""
    job_id = submit()
    worker = make_worker()
    queue = worker.queues[0]
    for expected in ("queued", "failed"):
        job, origin = Queue.dequeue_any(worker.queues, None, connection=redis, serializer=JSONSerializer)
        worker.register_start(Member(job, origin, read_payload(job)), BatchInfo(id="b", jobs=1, images=2))
        assert status(job_id)["status"] == "started"
        registry = queue.started_job_registry
        redis.zadd(
            registry.key, dict.fromkeys(redis.zrange(registry.key, 0, -1), 1)
        )  # heartbeat long overdue
        registry.cleanup()
        assert status(job_id)["status"] == expected
    assert "stopped responding" in status(job_id)["error"]
    assert status(job_id)["error_code"] == "worker_lost"


def test_a_stock_rq_worker_refuses_palette_jobs_with_an_explanation(
    submit: Submit, redis: Redis, status: Status
) -> None:
    job_id = submit()
    SimpleWorker([rq_queue(redis)], connection=redis, serializer=JSONSerializer).work(burst=True)
    answer = status(job_id)
    assert answer["status"] == "failed"
    assert "must be run by `palette worker`" in answer["error"]


def test_the_worker_runs_the_network_in_the_precision_and_runtime_its_settings_name(
    make_worker: Callable[..., BatchWorker],
) -> None:
    """PALETTE_PRECISION / --precision and PALETTE_BACKEND / --backend reach the runtime options
    (PyTorch here: OpenVINO's threads must not start inside the test process)."""
    pipeline = make_worker(backend="torch", precision="bf16").engine.pipeline
    assert (pipeline.backend.value, pipeline.precision.value) == ("torch", "bf16")
    assert make_worker(backend="torch", precision="fp32").engine.pipeline.precision.value == "fp32"

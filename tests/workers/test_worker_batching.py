"""How the worker forms batches: compatible jobs together, incompatible ones left in the queue, never more
than max_batch images, and samples that do not depend on the company they keep."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.queue import cancel
from tests.workers.harness import tap_progress
from workers.batching import Gatherer, Member, read_payload
from workers.worker import BatchWorker

Submit = Callable[..., str]


def batch_of(status: Callable[[str], dict], job_id: str) -> dict:
    answer = status(job_id)
    assert answer["status"] == "finished", answer
    return answer["batch"]


def test_compatible_jobs_waiting_together_are_sampled_as_one_batch(
    submit: Submit, make_worker: Callable[..., BatchWorker], status: Callable[[str], dict]
) -> None:
    jobs = [submit() for _ in range(3)]
    make_worker().work(burst=True)
    batches = [batch_of(status, job) for job in jobs]
    assert batches[0] == batches[1] == batches[2]
    assert batches[0]["jobs"] == 3
    assert batches[0]["images"] == 6


def test_different_tasks_share_a_batch(
    submit: Submit, make_worker: Callable[..., BatchWorker], status: Callable[[str], dict]
) -> None:
    inpaint, colorize = submit("inpaint"), submit("colorize")
    make_worker().work(burst=True)
    assert batch_of(status, inpaint)["id"] == batch_of(status, colorize)["id"]


def test_jobs_with_other_sampler_settings_get_their_own_batch(
    submit: Submit, make_worker: Callable[..., BatchWorker], status: Callable[[str], dict]
) -> None:
    two_steps, three_steps, eta = submit(steps=2), submit(steps=3), submit(steps=2, eta=0.5)
    make_worker().work(burst=True)
    assert len({batch_of(status, job)["id"] for job in (two_steps, three_steps, eta)}) == 3


def test_a_batch_holds_at_most_max_batch_images(
    submit: Submit, make_worker: Callable[..., BatchWorker], status: Callable[[str], dict]
) -> None:
    jobs = [submit() for _ in range(3)]
    make_worker(max_batch=4).work(burst=True)
    assert sorted(batch_of(status, job)["images"] for job in jobs) == [2, 4, 4]


def test_a_request_larger_than_max_batch_is_sampled_in_chunks(
    submit: Submit, make_worker: Callable[..., BatchWorker], status: Callable[[str], dict]
) -> None:
    """4 samples of one tile each (an upload within the model's resolution): with max_batch 2, every
    network call evaluates 2 tiles, never the 4 a step needs, and all 4 samples come back."""
    job = submit(num_samples=4)
    worker = make_worker(max_batch=2)
    reports = tap_progress(worker)
    worker.work(burst=True)
    answer = status(job)
    assert answer["status"] == "finished"
    assert len(answer["samples"]) == 4
    done = [0] + [report[0] for report in reports]
    assert {later - earlier for earlier, later in pairwise(done)} == {2}
    assert reports[-1] == (8, 8)  # 2 steps x 4 samples x 1 tile, in 4 calls of 2


def test_samples_do_not_depend_on_the_batch_they_ran_in(
    submit: Submit, make_worker: Callable[..., BatchWorker], status: Callable[[str], dict], api: TestClient
) -> None:
    alone = submit(seed=42)
    make_worker().work(burst=True)
    batched = submit(seed=42)
    for seed in (1, 2):
        submit(seed=seed, num_samples=3)
    make_worker().work(burst=True)
    assert batch_of(status, batched)["images"] == 8
    for k in range(2):
        assert (
            api.get(f"/v1/jobs/{alone}/samples/{k}").content
            == api.get(f"/v1/jobs/{batched}/samples/{k}").content
        )


def gatherer_and_first(redis: Redis, first_id: str) -> tuple[Gatherer, Member]:
    queue = Queue("palette", connection=redis, serializer=JSONSerializer)
    first = Job.fetch(first_id, connection=redis, serializer=JSONSerializer)
    queue.remove(first_id)
    return Gatherer(redis, [queue], max_wait=0.0), Member(first, queue, read_payload(first))


def test_a_claimed_job_moves_to_rqs_intermediate_queue_like_a_dequeued_one(
    submit: Submit, redis: Redis
) -> None:
    first, second = submit(), submit()
    gatherer, member = gatherer_and_first(redis, first)
    members = gatherer.gather(member, max_images=8)
    assert [m.job.id for m in members] == [first, second]
    queue = Queue("palette", connection=redis)
    assert queue.job_ids == []
    assert queue.intermediate_queue.get_job_ids() == [second]


def test_incompatible_jobs_are_never_taken_from_the_queue(submit: Submit, redis: Redis) -> None:
    first, other = submit(steps=2), submit(steps=5)
    gatherer, member = gatherer_and_first(redis, first)
    assert [m.job.id for m in gatherer.gather(member, max_images=8)] == [first]
    assert Queue("palette", connection=redis).job_ids == [other]


def test_a_canceled_job_is_not_claimed(submit: Submit, redis: Redis) -> None:
    first, canceled = submit(), submit()
    cancel(redis, canceled, retention_seconds=60)
    gatherer, member = gatherer_and_first(redis, first)
    assert [m.job.id for m in gatherer.gather(member, max_images=8)] == [first]

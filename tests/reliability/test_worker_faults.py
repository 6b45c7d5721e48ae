"""Faults injected into real `palette worker` processes: killed (SIGKILL) or stopped (SIGTERM, once or
twice) in the middle of sampling, or started with a model that cannot be loaded. Every job ends finished,
or failed with a reason; none is left 'started' or silently dropped.

How fast a dead worker's job is noticed (the settings of ``harness.BASE_ENV``): its heartbeat stops; RQ
counts it abandoned ``PALETTE_HEARTBEAT_SECONDS + PALETTE_HEARTBEAT_GRACE_SECONDS`` (here 1 + 3 s) after the
last one; a live worker's maintenance then re-queues it while ``PALETTE_JOB_RETRIES`` allow, else fails it.
Maintenance runs every ``PALETTE_MAINTENANCE_INTERVAL_SECONDS`` at most, but only between two dequeues of an
*idle* worker, which block for ``PALETTE_WORKER_TTL_SECONDS - 15`` (here 5 s; RQ's floor is 1 s, ours 5 s).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from harness import Cluster, eventually, kill, log_tail, running_worker
from redis import Redis

from model.checkpoint import read_checkpoint, save_checkpoint

LONG = 90  # DDIM steps (restoration runs every one): seconds of sampling for the tiny model on one core
MAX_STEPS = 1000  # the most a request may ask for
RQ_SIGNAL_DEBOUNCE_SECONDS = 1.2  # RQ ignores a second signal within 1 s of the first (pools send duplicates)
TAKEOVER_SECONDS = 20.0  # 1 + 3 s to be abandoned, up to 5 + 1 s for an idle worker's maintenance, slack


def test_a_job_whose_worker_is_killed_mid_sampling_is_run_again_by_another_worker(
    cluster: Cluster, redis: Redis, photo_png: bytes
) -> None:
    service = cluster.api()
    workers = cluster.workers("first", "second")
    job_id = service.submit("restore", {"image": photo_png}, steps=LONG)
    victim = eventually(lambda: running_worker(redis, job_id), 60, "a worker starts the job")
    eventually(lambda: service.status(job_id)["progress"] > 0, 60, "sampling is under way")

    kill(workers[victim])
    killed = time.monotonic()
    survivor = next(name for name in workers if name != victim)
    eventually(lambda: running_worker(redis, job_id) == survivor, TAKEOVER_SECONDS, "the survivor takes over")
    print(f"job taken over {time.monotonic() - killed:.1f} s after its worker was killed")

    status = service.wait_for(job_id, "finished", "failed", timeout=120)
    assert status["status"] == "finished", status
    assert len(service.download(status)) == 1
    assert int(redis.hget(f"rq:job:{job_id}", "retries_left") or -1) == 0  # the retry was counted


def test_a_killed_workers_job_fails_with_a_reason_once_its_retries_are_spent(
    cluster: Cluster, redis: Redis, photo_png: bytes
) -> None:
    service = cluster.api(env={"PALETTE_JOB_RETRIES": "0"})
    workers = cluster.workers("doomed", "bystander")
    job_id = service.submit("restore", {"image": photo_png}, steps=LONG)
    victim = eventually(lambda: running_worker(redis, job_id), 60, "a worker starts the job")

    kill(workers[victim])
    status = service.wait_for(job_id, "failed", "finished", timeout=TAKEOVER_SECONDS)
    assert status["status"] == "failed"
    assert status["error"] == (
        "the worker running this job stopped responding (it probably crashed) and retries ran out"
    )


def test_sigterm_mid_batch_lets_every_job_of_the_batch_finish_then_the_worker_exits_0(
    cluster: Cluster, photo_png: bytes
) -> None:
    """(tests/e2e/test_e2e_processes.py checks the same for a batch of one job.)"""
    service = cluster.api()
    worker = cluster.worker("draining", "--max-wait", "2.0")
    batch = [service.submit("restore", {"image": photo_png}, steps=LONG, seed=k) for k in range(3)]
    started = [service.wait_for(job_id, "started") for job_id in batch]
    assert {status["batch"]["jobs"] for status in started} == {3}

    worker.send_signal(signal.SIGTERM)
    waiting = service.submit("restore", {"image": photo_png}, steps=2)
    assert worker.wait(timeout=120) == 0
    assert [service.status(job_id)["status"] for job_id in batch] == ["finished"] * 3
    assert service.status(waiting)["status"] == "queued"


def test_a_second_sigterm_hands_the_unfinished_batch_back_to_the_queue(
    cluster: Cluster, photo_png: bytes
) -> None:
    service = cluster.api()
    worker = cluster.worker("impatient", "--max-wait", "2.0")
    batch = [service.submit("restore", {"image": photo_png}, steps=MAX_STEPS, seed=k) for k in range(2)]
    for job_id in batch:
        service.wait_for(job_id, "started")

    worker.send_signal(signal.SIGTERM)
    first = time.monotonic()
    eventually(lambda: "warm shut down requested" in log_tail(worker), 10, "the first SIGTERM is handled")
    time.sleep(max(0.0, first + RQ_SIGNAL_DEBOUNCE_SECONDS - time.monotonic()))
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    assert [service.status(job_id)["status"] for job_id in batch] == ["queued"] * 2

    cluster.worker("successor")
    for job_id in batch:
        assert service.wait_for(job_id, "finished", "failed", timeout=120)["status"] == "finished"


def damaged_checkpoint(damage: str, tiny_checkpoint: Path, directory: Path) -> Path:
    path = directory / f"{damage.replace(' ', '-')}.safetensors"
    if damage == "truncated":
        path.write_bytes(tiny_checkpoint.read_bytes()[:-1000])
    elif damage == "missing a tensor":
        checkpoint = read_checkpoint(tiny_checkpoint)
        state = dict(checkpoint.state)
        state.pop("conv_out.bias")
        save_checkpoint(path, state, checkpoint.config)
    return path  # "missing": nothing written


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "checkpoint {path} does not exist"),
        ("truncated", "checkpoint {path} is not a readable safetensors file: "),
        (
            "missing a tensor",
            "checkpoint weights do not fit the network its config describes: "
            "1 missing (first: conv_out.bias)",
        ),
    ],
)
def test_a_worker_without_a_usable_model_refuses_to_start_with_one_line_and_readyz_says_not_ready(
    cluster: Cluster, tiny_checkpoint: Path, tmp_path: Path, damage: str, message: str
) -> None:
    weights = damaged_checkpoint(damage, tiny_checkpoint, tmp_path)
    service = cluster.api()
    worker = cluster.start("unusable", "worker", env={"PALETTE_WEIGHTS": str(weights)})
    assert worker.wait(timeout=60) == 2
    output = log_tail(worker).strip()
    assert "Traceback" not in output
    assert output.splitlines()[-1].startswith("palette worker: " + message.format(path=weights))
    answer = service.http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"detail": f"no worker is serving the queue {cluster.queue!r}"}

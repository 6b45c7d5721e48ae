"""Processes as an operator sees them: `palette up` starts and stops everything, in a private Redis unless
told to use one; a worker told to stop (SIGTERM) finishes its batch first."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis import Redis

from jobs.settings import Settings
from palette.up import RedisServer, free_port, redis_answers, stop_process, wait_until_ready


@contextmanager
def ctrl_c_enabled() -> Iterator[None]:
    """Start children with SIGINT at its default, as a terminal's foreground command has it.

    A shell starts background commands with SIGINT ignored, an ignored signal stays ignored across exec,
    and Python then never raises KeyboardInterrupt: without this, the Ctrl-C test fails whenever the
    suite itself runs in the background (``make test &``, CI runners).
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def read_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's output, line by line, without ever blocking the test."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def output_until(lines: queue.Queue[str], marker: str, timeout: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(marker in line for line in seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{marker!r} not printed within {timeout} s:\n{''.join(seen)}"
        try:
            seen.append(lines.get(timeout=remaining))
        except queue.Empty:
            continue
    return "".join(seen)


def drain(lines: queue.Queue[str]) -> str:
    """What the process printed and nobody has read yet."""
    unread = []
    while not lines.empty():
        unread.append(lines.get_nowait())
    return "".join(unread)


ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REDIS_URL = Settings.model_fields["redis_url"].default  # where palette up used to look, unasked
OURS = re.compile(r"^(palette|rq):")
# What the README says stays in a Redis palette up was told to use, with no expiry: the cluster's metrics
# (cumulative counters) and RQ's list of queues and per-queue registries (trimmed by workers' maintenance).
KEPT_FOR_GOOD = re.compile(
    r"^(palette:metrics:.+|rq:queues|rq:(finished|failed|canceled|started|deferred|scheduled):palette)$"
)


def palette_up_env(tiny_checkpoint: Path, **extra: str) -> dict[str, str]:
    """The environment of someone who runs `make up`: no PALETTE_REDIS_URL, unless ``extra`` sets it."""
    env = {key: value for key, value in os.environ.items() if key.upper() != "PALETTE_REDIS_URL"}
    return env | {
        "PALETTE_WEIGHTS": str(tiny_checkpoint),
        "PALETTE_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


@contextmanager
def palette_up(*arguments: str, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`palette up` started as from a terminal, once it says it is ready: (process, what it printed)."""
    with ctrl_c_enabled():
        up = subprocess.Popen(
            [sys.executable, "-m", "palette.cli", "up", *arguments],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    lines = read_lines(up)
    try:
        yield up, output_until(lines, "Press Ctrl-C to stop.", timeout=120)
        up.send_signal(signal.SIGINT)
        try:
            assert up.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(f"palette up did not stop in 60 s; it printed:\n{drain(lines)}") from None
    finally:
        stop_process(up)  # SIGTERM first, so that a failed run's API, worker and Redis do not outlive it


def our_keys(redis: Redis) -> set[str]:
    return {key.decode() for key in redis.scan_iter() if OURS.match(key.decode())}


@pytest.fixture
def redis_on_the_default_port() -> Iterator[Redis]:
    """Someone else's Redis where palette up used to look unasked (127.0.0.1:6379, database 0): a
    redis-server of the test's own when nothing listens there, else the machine's (only read)."""
    if redis_answers(DEFAULT_REDIS_URL):
        with Redis.from_url(DEFAULT_REDIS_URL) as redis:
            yield redis
        return
    server = RedisServer()
    server.port = 6379
    try:
        with Redis.from_url(server.start()) as redis:
            yield redis
    finally:
        server.remove()


def submit_and_finish(port: int, photo_png: bytes) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        fields = {"num_samples": "1", "steps": "3"}
        job = http.post("/v1/restore", files={"image": ("p.png", photo_png)}, data=fields).json()
        deadline = time.monotonic() + 60
        while http.get(job["status_url"]).json()["status"] != "finished":
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.1)


def test_palette_up_starts_a_private_redis_and_leaves_nothing_behind_after_ctrl_c(
    tiny_checkpoint: Path, redis_on_the_default_port: Redis, photo_png: bytes
) -> None:
    someone_elses = our_keys(redis_on_the_default_port)
    port = free_port()
    with palette_up("--port", str(port), env=palette_up_env(tiny_checkpoint)) as (_, printed):
        assert "palette up: started a private Redis at redis://127.0.0.1:" in printed
        assert f"Palette is ready at http://127.0.0.1:{port}" in printed
        assert (
            f"curl -s -F image=@photo.png -F mask=@mask.png -F num_samples=2 http://127.0.0.1:{port}/v1/inpaint"
            in printed
        )
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["workers"] == 1
        submit_and_finish(port, photo_png)
    assert our_keys(redis_on_the_default_port) == someone_elses
    redis_url = printed.split("started a private Redis at ")[1].split()[0]
    data = Path(printed.split("(data in ")[1].split(")")[0])
    assert not data.exists()
    for refused in (f"http://127.0.0.1:{port}/healthz", redis_url.replace("redis://", "http://")):
        try:
            httpx.get(refused, timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{refused} still answers after palette up stopped")


def test_palette_up_told_to_use_a_redis_says_so_and_leaves_only_what_the_readme_lists(
    tiny_checkpoint: Path, photo_png: bytes
) -> None:
    server = RedisServer()
    try:
        url = server.start()
        port = free_port()
        arguments = ("--port", str(port), "--redis-url", url)
        with palette_up(*arguments, env=palette_up_env(tiny_checkpoint)) as (_, printed):
            assert f"palette up: using the Redis at {url} (from --redis-url)" in printed
            submit_and_finish(port, photo_png)
        with Redis.from_url(url) as redis:
            left = {key: redis.ttl(key) for key in our_keys(redis)}
    finally:
        server.remove()
    assert {key for key, ttl in left.items() if ttl < 0} == {key for key in left if KEPT_FOR_GOOD.match(key)}
    tombstone_ttl = Settings.model_fields["tombstone_ttl_seconds"].default
    assert all(0 < ttl <= tombstone_ttl for key, ttl in left.items() if not KEPT_FOR_GOOD.match(key))


def test_palette_up_refuses_a_redis_it_was_told_to_use_that_does_not_answer(tiny_checkpoint: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    env = palette_up_env(tiny_checkpoint, PALETTE_REDIS_URL=nowhere)
    done = subprocess.run(
        [sys.executable, "-m", "palette.cli", "up"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"palette up: no Redis answers at {nowhere} (from PALETTE_REDIS_URL)" in done.stderr


def test_make_up_installs_redis_server_when_missing_unless_told_to_use_a_redis() -> None:
    def plan(**env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if k.upper() != "PALETTE_REDIS_URL"} | env
        done = subprocess.run(["make", "-n", "up"], cwd=ROOT, env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "command -v redis-server" in plan()  # the check-redis-server target: installs it if missing
    assert "command -v redis-server" not in plan(PALETTE_REDIS_URL="redis://redis.example:6379/0")


def test_sigterm_lets_a_worker_finish_its_batch_before_it_exits(launch, photo_png: bytes) -> None:
    """A worker and an API of their own, on a queue of their own, so the session's worker is not involved."""
    port = free_port()
    own_queue = {"PALETTE_QUEUE": "shutdown-test"}
    api = launch("shutdown-api", "api", "--port", str(port), env=own_queue)
    worker = launch("shutdown-worker", "worker", "--max-wait", "0", env=own_queue)
    wait_until_ready(f"http://127.0.0.1:{port}", [api, worker], timeout=120)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

        def submit(steps: int) -> str:
            fields = {"num_samples": "1", "steps": str(steps)}
            answer = http.post("/v1/restore", files={"image": ("p.png", photo_png)}, data=fields)
            return str(answer.json()["job_id"])

        def state(job_id: str) -> str:
            return str(http.get(f"/v1/jobs/{job_id}").json()["status"])

        running = submit(steps=30)  # restoration runs every step: some seconds of sampling
        deadline = time.monotonic() + 60
        while state(running) != "started":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        waiting = submit(steps=4)
        assert worker.wait(timeout=120) == 0
        assert state(running) == "finished"
        assert state(waiting) == "queued"

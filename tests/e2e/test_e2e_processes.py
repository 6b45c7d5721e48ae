"""Processes as an operator sees them: `palette up` starts and stops everything; a worker told to stop
(SIGTERM) finishes its batch first."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from palette.up import free_port, stop_process, wait_until_ready


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


def test_palette_up_starts_redis_api_and_worker_and_ctrl_c_stops_them(tiny_checkpoint: Path) -> None:
    port, nowhere = free_port(), free_port()
    env = os.environ | {
        "PALETTE_REDIS_URL": f"redis://127.0.0.1:{nowhere}/0",  # nothing answers: palette up starts its own
        "PALETTE_WEIGHTS": str(tiny_checkpoint),
        "PALETTE_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
    }
    with ctrl_c_enabled():
        up = subprocess.Popen(
            [sys.executable, "-m", "palette.cli", "up", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    lines = read_lines(up)
    try:
        printed = output_until(lines, "Press Ctrl-C to stop.", timeout=120)
        assert "started one at redis://127.0.0.1:" in printed
        assert f"Palette is ready at http://127.0.0.1:{port}" in printed
        assert (
            f"curl -s -F image=@photo.png -F mask=@mask.png -F num_samples=2 http://127.0.0.1:{port}/v1/inpaint"
            in printed
        )
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["workers"] == 1
        up.send_signal(signal.SIGINT)
        try:
            assert up.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(f"palette up did not stop in 60 s; it printed:\n{drain(lines)}") from None
    finally:
        stop_process(up)  # SIGTERM first, so that a failed run's API, worker and Redis do not outlive it
    redis_url = printed.split("started one at ")[1].split()[0]
    for refused in (f"http://127.0.0.1:{port}/healthz", redis_url.replace("redis://", "http://")):
        try:
            httpx.get(refused, timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{refused} still answers after palette up stopped")


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

        running = submit(steps=200)
        deadline = time.monotonic() + 60
        while state(running) != "started":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        waiting = submit(steps=4)
        assert worker.wait(timeout=120) == 0
        assert state(running) == "finished"
        assert state(waiting) == "queued"

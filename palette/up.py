"""``palette up``: everything on one machine, for trying Palette out. Starts a private ``redis-server`` on a
free port in a temporary directory, unless told to use a Redis (--redis-url or PALETTE_REDIS_URL); then the
API and one worker with the bundled weights (or PALETTE_WEIGHTS / --weights). Prints which Redis it uses,
then the URL and a curl example once the API is ready; Ctrl-C stops everything, in order, and removes
the private Redis with all its data. A Redis it was told to use keeps what the service wrote there (job
records and results until they expire, the cluster's metrics, RQ's registries; see the README)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError
from redis import Redis, RedisError

from jobs.settings import Settings
from model.weights import resolve_weights

STOP_GRACE_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A private ``redis-server`` (no persistence) on a free port in a temporary directory. It can be
    stopped and started again on the same port, which fault-injection tests use."""

    def __init__(self, binary: str = "redis-server") -> None:
        path = shutil.which(binary)
        if path is None:
            raise FileNotFoundError(
                f"{binary} is not installed (apt install redis-server; brew install redis)"
            )
        self.binary = path
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="palette-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not redis_answers(self.url, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def stop_process(process: subprocess.Popen[Any], grace: float = STOP_GRACE_SECONDS) -> int:
    """SIGTERM (the API drains, the worker finishes its batch), then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def describe(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    return " ".join(map(str, args)) if isinstance(args, list) else str(args)


def wait_until_ready(url: str, children: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{describe(child)} exited with status {child.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the service did not become ready within {timeout:.0f} s")


def usage_text(url: str) -> str:
    return f"""
Palette is ready at {url}  (API docs: {url}/docs, metrics: {url}/metrics)

Inpaint (white in mask.png = the region to generate), then poll and download:

  curl -s -F image=@photo.png -F mask=@mask.png -F num_samples=2 {url}/v1/inpaint
  curl -s {url}/v1/jobs/<job_id>
  curl -s -o sample-0.png {url}/v1/jobs/<job_id>/samples/0

Press Ctrl-C to stop.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palette up", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface the API listens on")
    parser.add_argument("--port", type=int, default=8000, help="port the API listens on")
    parser.add_argument(
        "--redis-url",
        help="use this Redis (PALETTE_REDIS_URL); without either, a private one is started, removed on exit",
    )
    parser.add_argument("--weights", help="checkpoint (PALETTE_WEIGHTS, else the bundled weights)")
    parser.add_argument("--device", help="auto, cpu, cuda, ... (PALETTE_DEVICE)")
    parser.add_argument("--ready-timeout", type=float, default=600.0, help="seconds allowed for startup")
    return parser


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"redis_url": args.redis_url, "weights": args.weights, "device": args.device}
    try:
        settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        print(f"palette up: invalid settings:\n{error}", file=sys.stderr)
        return 2
    weights = resolve_weights(settings.weights)
    if not weights.is_file():
        print(
            f"palette up: no weights at {weights}; pass --weights or set PALETTE_WEIGHTS to a checkpoint",
            file=sys.stderr,
        )
        return 2
    told = (
        "--redis-url"
        if args.redis_url
        else "PALETTE_REDIS_URL"
        if "redis_url" in settings.model_fields_set
        else None
    )
    if told and not redis_answers(settings.redis_url):
        print(
            f"palette up: no Redis answers at {settings.redis_url} (from {told}); start it, or leave {told} "
            "out to have palette up start a private one",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _raise_exit)
    with ExitStack() as cleanup:
        if told:
            redis_url = settings.redis_url
            print(
                f"palette up: using the Redis at {redis_url} (from {told}); the jobs, results and metrics "
                "written there stay after palette up stops (see the README)",
                flush=True,
            )
        else:
            try:
                server = RedisServer()
            except FileNotFoundError as error:
                print(f"palette up: {error}; or pass --redis-url to use a running Redis", file=sys.stderr)
                return 2
            cleanup.callback(server.remove)
            redis_url = server.start()
            print(
                f"palette up: started a private Redis at {redis_url} (data in {server.directory}); "
                "it is stopped and deleted with everything in it when palette up stops",
                flush=True,
            )
        env = os.environ | {
            "PALETTE_REDIS_URL": redis_url,
            "PALETTE_WEIGHTS": str(weights),
            "PALETTE_DEVICE": settings.device,
        }
        palette = [sys.executable, "-m", "palette.cli"]
        children = []
        for command in (["api", "--host", args.host, "--port", str(args.port)], ["worker"]):
            # A session of its own: Ctrl-C reaches only this process, which stops the children in order.
            child = subprocess.Popen([*palette, *command], env=env, start_new_session=True)
            cleanup.callback(stop_process, child)
            children.append(child)
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        url = f"http://{shown_host}:{args.port}"
        try:
            wait_until_ready(url, children, args.ready_timeout)
            print(usage_text(url), flush=True)
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\npalette up: stopping...", flush=True)
            return 0
        except RuntimeError as error:
            print(f"palette up: {error}", file=sys.stderr)
            return 1
        failed = next(child for child in children if child.poll() is not None)
        print(f"palette up: {describe(failed)} exited ({failed.returncode}); stopping", file=sys.stderr)
        return 1

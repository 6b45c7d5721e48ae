"""Service-level load: N concurrent clients submit inpainting jobs through the HTTP API to one worker.

For each mode (cross-request batching on, then off) this starts a private Redis, ``palette api`` and one
``palette worker``, runs closed-loop clients (each submits a job, polls it to the end, submits the next),
and reports throughput, end-to-end latency percentiles as the clients saw them, the mean batch the worker
formed and the share of the wall time the worker spent sampling. Right after each mode it times the raw
sampler (PalettePipeline.sample, in this process, with the service stopped) at the mode's mean batch
size, so that the service's overhead is a measured ratio.

    python benchmarks/load.py --quick                              # CPU, tiny model, CI-sized
    python benchmarks/load.py --weights model.safetensors --clients 16 --jobs 8 --steps 50
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np
import torch
from common import TINY_UNET, centre_mask, random_checkpoint, random_images
from PIL import Image

from model.checkpoint import read_checkpoint
from model.config import ModelConfig
from model.pipeline import Conditioning, PalettePipeline
from model.sampling import SamplerKind, SamplerSettings
from model.tasks.base import fill_unknown, to_rgb_array
from model.tasks.inpaint import binary_mask
from palette.up import RedisServer, free_port, stop_process, wait_until_ready

READY_TIMEOUT_SECONDS = 300.0  # a GPU worker compiles and captures every batch size before it is ready


@dataclass(frozen=True)
class Mode:
    name: str
    max_batch: int
    max_wait: float


@dataclass(frozen=True)
class Job:
    latency: float  # submission to the client seeing the finished status, seconds
    batch_id: str
    batch_images: int
    batch_seconds: float  # how long the worker spent sampling the job's batch
    finished_at: float  # time.perf_counter() when seen finished


@dataclass(frozen=True)
class Result:
    mode: str
    clients: int
    jobs: int
    images: int
    max_batch: int
    max_wait: float
    images_per_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    mean_batch: float  # images per batch the worker ran, averaged over batches
    busy_percent: float  # the worker's sampling time (summed over its batches) over the wall time
    raw_batch: int  # the mean batch, rounded: the raw sampler is timed at this size, right after the run
    raw_images_per_s: float
    service_over_raw: float


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def request_files(resolution: int) -> tuple[bytes, bytes]:
    """A random photo-sized input and a mask whose centre is to be generated, as PNG files."""
    (image,) = random_images(1, resolution)
    return png(image), png(centre_mask(resolution).astype(np.uint8) * 255)


@contextmanager
def service(mode: Mode, weights: Path, device: str) -> Iterator[str]:
    """Redis, the API and one worker, started fresh for ``mode``; yields the API's URL. Everything started
    is stopped again, in reverse order, however the block ends."""
    with ExitStack() as stack:
        redis = RedisServer()
        stack.callback(redis.remove)
        redis_url = redis.start()
        port = free_port()
        palette = [sys.executable, "-m", "palette.cli"]
        api = subprocess.Popen(
            [*palette, "api", "--port", str(port), "--redis-url", redis_url, "--log-level", "warning"]
        )
        stack.callback(stop_process, api)
        worker_command = [
            *palette, "worker", "--redis-url", redis_url, "--weights", str(weights), "--device", device,
            "--max-batch", str(mode.max_batch), "--max-wait", str(mode.max_wait), "--log-level", "WARNING",
        ]  # fmt: skip
        worker = subprocess.Popen(worker_command)
        stack.callback(stop_process, worker)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, [api, worker], READY_TIMEOUT_SECONDS)
        yield url


def run_job(client: httpx.Client, files: tuple[bytes, bytes], form: dict[str, str], poll: float) -> Job:
    started = time.perf_counter()
    answer = client.post(
        "/v1/inpaint", files={"image": ("image.png", files[0]), "mask": ("mask.png", files[1])}, data=form
    )
    answer.raise_for_status()
    status_url = answer.json()["status_url"]
    while True:
        status = client.get(status_url).raise_for_status().json()
        if status["status"] in ("finished", "failed", "canceled"):
            break
        time.sleep(poll)
    finished = time.perf_counter()
    if status["status"] != "finished":
        raise RuntimeError(f"job {status['job_id']} ended {status['status']}: {status.get('error')}")
    batch, seconds = status["batch"], status["timings"]["sampling_seconds"]
    return Job(finished - started, batch["id"], batch["images"], seconds, finished)


def load(
    url: str, clients: int, jobs_per_client: int, form: dict[str, str], resolution: int, poll: float
) -> tuple[list[Job], float]:
    """Every job of every client, and the seconds from the first submission to the last result."""
    files = request_files(resolution)
    with httpx.Client(base_url=url, timeout=60.0) as warm:
        run_job(warm, files, form, poll)  # the first job after start-up is not part of the measurement
    barrier = threading.Barrier(clients)

    def client_loop(seed: int) -> list[Job]:
        with httpx.Client(base_url=url, timeout=600.0) as client:
            barrier.wait()
            return [
                run_job(client, files, {**form, "seed": str(seed * 1000 + k)}, poll)
                for k in range(jobs_per_client)
            ]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = [job for jobs in pool.map(client_loop, range(clients)) for job in jobs]
    return done, max(job.finished_at for job in done) - started


def raw_images_per_s(
    weights: Path, device: str, batch: int, settings: SamplerSettings, resolution: int, repeats: int
) -> float:
    """The sampler alone on the same inputs as the service's jobs: uploads of the model's resolution, so a
    job is one tile, its source the upload with the hole filled as the worker fills it."""
    pipeline = PalettePipeline.from_checkpoint(weights, device)
    image_bytes, mask_bytes = request_files(resolution)
    generate = binary_mask(Image.open(io.BytesIO(mask_bytes)))
    source = fill_unknown(to_rgb_array(Image.open(io.BytesIO(image_bytes))), generate)
    conditions = [Conditioning(source, generate)] * batch
    seeds = list(range(batch))
    pipeline.sample(conditions, seeds, settings)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        pipeline.sample(conditions, seeds, settings)
        times.append(time.perf_counter() - started)
    if pipeline.device.type == "cuda":  # give the memory back before the next mode's worker sizes its batch
        del pipeline
        gc.collect()
        torch.cuda.empty_cache()
    return batch / statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def format_table(results: list[Result]) -> str:
    columns = (
        "mode", "clients", "jobs", "images", "max batch", "max wait s", "images/s", "p50 s", "p95 s", "p99 s",
        "mean batch", "worker busy %", "raw images/s (batch)", "service / raw",
    )  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        cells = [
            r.mode, str(r.clients), str(r.jobs), str(r.images), str(r.max_batch), f"{r.max_wait:g}",
            f"{r.images_per_s:.3g}", f"{r.p50_s:.3g}", f"{r.p95_s:.3g}", f"{r.p99_s:.3g}",
            f"{r.mean_batch:.2f}", f"{r.busy_percent:.0f}", f"{r.raw_images_per_s:.3g} ({r.raw_batch})",
            f"{r.service_over_raw:.2f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI settings: tiny model, CPU, few short jobs")
    parser.add_argument("--weights", type=Path, help="checkpoint (default: a random tiny model)")
    parser.add_argument("--device", default="cpu", help="the worker's and the raw sampler's device")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=4, help="jobs per client")
    parser.add_argument("--samples", type=int, default=4, help="num_samples of each job")
    parser.add_argument("--sampler", choices=[k.value for k in SamplerKind], default=SamplerKind.DDIM.value)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-batch", type=int, default=16, help="the worker's limit with batching on")
    parser.add_argument(
        "--max-wait", type=float, default=0.2, help="seconds the worker waits to fill a batch"
    )
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between a client's status polls")
    parser.add_argument("--repeats", type=int, default=5, help="timed raw-sampler runs (median)")
    parser.add_argument("--json", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.device, args.clients, args.jobs, args.samples, args.steps = "cpu", 8, 2, 2, 4
    settings = SamplerSettings(SamplerKind(args.sampler), steps=args.steps)
    form = {"num_samples": str(args.samples), "sampler": settings.kind.value, "steps": str(settings.steps)}
    modes = [
        Mode("batching on", args.max_batch, args.max_wait),
        Mode("batching off", args.samples, 0.0),  # a batch holds exactly one job
    ]
    with tempfile.TemporaryDirectory() as workdir:
        weights = args.weights or random_checkpoint(
            Path(workdir) / "tiny.safetensors", ModelConfig(unet=TINY_UNET)
        )
        resolution = read_checkpoint(weights).config.resolution
        results = []
        for mode in modes:
            with service(mode, weights, args.device) as url:
                jobs, seconds = load(url, args.clients, args.jobs, form, resolution, args.poll)
            batches = {job.batch_id: (job.batch_images, job.batch_seconds) for job in jobs}
            mean_batch = statistics.mean(images for images, _ in batches.values())
            print(
                f"# {mode.name}: {len(jobs)} jobs in {seconds:.1f} s, {len(batches)} batches", file=sys.stderr
            )
            # Right after the service stops, so that both see the machine in the same state.
            raw_batch = max(1, round(mean_batch))
            raw = raw_images_per_s(weights, args.device, raw_batch, settings, resolution, args.repeats)
            latencies = [job.latency for job in jobs]
            throughput = len(jobs) * args.samples / seconds
            results.append(
                Result(
                    mode=mode.name,
                    clients=args.clients,
                    jobs=len(jobs),
                    images=len(jobs) * args.samples,
                    max_batch=mode.max_batch,
                    max_wait=mode.max_wait,
                    images_per_s=throughput,
                    p50_s=percentile(latencies, 50),
                    p95_s=percentile(latencies, 95),
                    p99_s=percentile(latencies, 99),
                    mean_batch=mean_batch,
                    busy_percent=100.0 * sum(busy for _, busy in batches.values()) / seconds,
                    raw_batch=raw_batch,
                    raw_images_per_s=raw,
                    service_over_raw=throughput / raw,
                )
            )
    print(
        f"# {settings.kind.value}-{settings.steps}, {args.samples} samples per job, device {args.device}, "
        f"model {weights if args.weights else 'random tiny (32x32)'}"
    )
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

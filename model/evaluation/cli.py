"""``palette eval``: score a checkpoint on held-out photos against baselines, per task and per sampler."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.checkpoint import CheckpointError
from model.evaluation.evaluate import EvalSettings, evaluate, prepare
from model.evaluation.heldout import CROP_FRACTION
from model.evaluation.inception import INCEPTION_ENV, resolve_inception
from model.evaluation.report import write_report
from model.pipeline import Precision
from model.runtime.options import DEFAULT_PRECISION_HELP
from model.sampling import SamplerKind, SamplerSettings
from model.tasks import task_names
from model.weights import resolve_weights

DEFAULT_SAMPLER = SamplerSettings()  # what a request that names no sampler runs, so the card scores it


def parse_sampler(text: str) -> SamplerSettings:
    """KIND[:STEPS[:ETA]], e.g. ddpm:1000, ddim:50, ddim:50:0.5, dpmpp_2m:20; STEPS defaults per kind."""
    kind_text, *rest = text.strip().split(":")
    if len(rest) > 2:
        raise argparse.ArgumentTypeError(f"--sampler takes KIND[:STEPS[:ETA]], got {text!r}")
    try:
        kind = SamplerKind(kind_text)
        steps = int(rest[0]) if rest else kind.default_steps
        eta = float(rest[1]) if len(rest) == 2 else 0.0
        return SamplerSettings(kind=kind, steps=steps, eta=eta)
    except ValueError as error:
        kinds = ", ".join(k.value for k in SamplerKind)
        raise argparse.ArgumentTypeError(f"bad --sampler {text!r} ({error}); kinds: {kinds}") from None


def parse_tasks(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(task_names()))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown task(s) {unknown}; known: {', '.join(task_names())}")
    return names


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palette eval", description=__doc__)
    parser.add_argument("--weights", help="checkpoint (default: $PALETTE_WEIGHTS, else the bundled weights)")
    parser.add_argument("--data", required=True, type=Path, help="folder of held-out photos")
    parser.add_argument("--out", required=True, type=Path, help="where report.json/.md and grids go")
    parser.add_argument("--tasks", type=parse_tasks, help="comma-separated (default: the checkpoint's tasks)")
    parser.add_argument(
        "--samples", type=positive, default=4, help="samples per input; diversity needs 2+ (default: 4)"
    )
    parser.add_argument(
        "--sampler",
        type=parse_sampler,
        action="append",
        help=(
            "KIND[:STEPS[:ETA]], repeatable, one table row each "
            f"(default: {DEFAULT_SAMPLER.kind.value}:{DEFAULT_SAMPLER.steps}, as a request naming none)"
        ),
    )
    parser.add_argument(
        "--crops", type=positive, default=4, help="per photo: the centre + random crops (default: 4)"
    )
    parser.add_argument(
        "--crop-fraction",
        type=fraction,
        default=CROP_FRACTION,
        help="crop side as a fraction of the photo's shorter side (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=positive,
        help="full-resolution mode: crops of SIZE x SIZE (e.g. 256), sampled at that size through the path "
        "the service takes (tiles, coarse to fine) and scored against the baselines at that size "
        "(default: crops at the model's resolution)",
    )
    parser.add_argument("--limit", type=positive, help="use only the first N photos (by file name)")
    parser.add_argument(
        "--seed", type=natural, default=0, help="crops, degradations and noise derive from it (default: 0)"
    )
    parser.add_argument(
        "--batch-size", type=positive, default=16, help="images per sampler call (default: 16)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--precision",
        choices=[p.value for p in Precision],
        help=DEFAULT_PRECISION_HELP,
    )
    parser.add_argument(
        "--inception",
        help=f"NVlabs' inception-2015-12-05.pt for real FID/IS (default: ${INCEPTION_ENV}; never downloaded)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    weights = resolve_weights(args.weights)
    settings = EvalSettings(
        weights=weights,
        data=args.data,
        tasks=args.tasks or (),
        samplers=tuple(args.sampler or [DEFAULT_SAMPLER]),
        samples=args.samples,
        crops=args.crops,
        crop_fraction=args.crop_fraction,
        limit=args.limit,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        precision=Precision(args.precision) if args.precision else None,
        inception=resolve_inception(args.inception),
        size=args.size,
    )
    try:
        plan = prepare(settings)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        print(f"palette eval: {error}", file=sys.stderr)
        return 2
    result = evaluate(plan)
    for path in write_report(result, args.out):
        print(f"wrote {path}")
    print(f"FD/KID/perceptual use EfficientNet-Lite0 features (not FID). {result.fid_is}")
    return 0

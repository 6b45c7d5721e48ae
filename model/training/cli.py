"""``palette train``: train a Palette model from a JSON config on the CPU, a GPU, or several under torchrun.

palette train --config configs/demo-64.json --out runs/demo
palette train --config configs/demo-64.json --set batch_size=32 --set optimizer.lr=2e-4
palette train --out runs/demo --resume auto            # continue; the config comes from OUT/config.json
torchrun --standalone --nproc-per-node 8 -m palette.cli train --config configs/paper-256.json --device cuda
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from model.checkpoint import CheckpointError
from model.data.dataset import DatasetError
from model.training.config import TrainConfig, add_overrides_argument
from model.training.state import ResumeError, latest_checkpoint
from model.training.trainer import CONFIG_FILE, train

AUTO = "auto"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palette train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, help="training config (JSON); default with --resume: OUT/config.json"
    )
    parser.add_argument("--out", type=Path, help="output directory (default: the config's out_dir)")
    add_overrides_argument(
        parser, "override a config value, e.g. optimizer.lr=2e-4 or data.train_dir=photos (repeatable)"
    )
    parser.add_argument(
        "--resume",
        metavar="auto|PATH",
        help="'auto': continue from OUT's latest checkpoint if it has one; PATH: a checkpoint directory "
        "(OUT/checkpoints/step-XXXXXXX) or a run's OUT",
    )
    parser.add_argument(
        "--device", default=AUTO, choices=[AUTO, "cpu", "cuda"], help="under torchrun, cuda uses LOCAL_RANK"
    )
    return parser


def load_config(args: argparse.Namespace) -> TrainConfig:
    if args.config is not None:
        config = TrainConfig.load(args.config, args.overrides)
    elif args.resume is not None and args.out is not None and (args.out / CONFIG_FILE).is_file():
        config = TrainConfig.load(args.out / CONFIG_FILE, args.overrides)
    else:
        raise ValueError(
            "--config is required (it may be left out only with --resume and an --out holding config.json)"
        )
    return config


def resolve_resume(resume: str | None, out_dir: Path) -> Path | None:
    """The checkpoint directory to resume from; None starts a new run."""
    if resume is None:
        return None
    if resume == AUTO:
        return latest_checkpoint(out_dir)
    path = Path(resume)
    if (path / "checkpoints").is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise ResumeError(f"--resume {resume}: the run has no checkpoint yet")
        return found
    if not path.is_dir():
        raise ResumeError(f"--resume {resume}: no such checkpoint directory")
    return path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    main_process = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(
        level=logging.INFO if main_process else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args)
        out_dir = args.out or Path(config.out_dir)
        resume_from = resolve_resume(args.resume, out_dir)
    except (ValueError, TypeError, KeyError, OSError, ResumeError) as error:
        print(f"palette train: {error}", file=sys.stderr)
        return 2
    try:
        with logging_redirect_tqdm():
            result = train(config, out_dir=out_dir, resume_from=resume_from, device=args.device)
    except (DatasetError, ResumeError, CheckpointError) as error:
        print(f"palette train: {error}", file=sys.stderr)
        return 2
    if main_process:
        print(f"trained to step {result.step}; EMA weights: {result.final_weights}")
    return 0

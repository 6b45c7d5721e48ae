"""``palette export``: the EMA weights of a run's latest checkpoint as an inference checkpoint.

A long CPU run spans sessions and is never "finished": at the end of each session its newest EMA weights
are shipped (``model/weights/``) while the run itself stays resumable elsewhere. This writes exactly what
the trainer's final export writes, from any checkpoint, without touching the run.

    palette export --run runs/residual-64 --out model/weights/palette-default.safetensors

``--config`` takes the *sampling* schedule from a training config: the levels a sampler walks are an
inference choice the evaluation tunes (a lower ``sigma_max`` for the one-step estimate, say) and that a
running run must not be restarted for; every other field of the model config must already agree, so
the weights are never described by a recipe they were not trained with.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from model.config import ModelConfig
from model.training.config import TrainConfig
from model.training.state import EMA_WEIGHTS, ResumeError, latest_checkpoint


def with_sampling_of(trained: ModelConfig, wanted: ModelConfig) -> ModelConfig:
    """``trained`` with the sampling schedule of ``wanted``; refused when they differ in anything else."""
    resampled = dataclasses.replace(
        trained,
        diffusion=dataclasses.replace(trained.diffusion, sample_schedule=wanted.diffusion.sample_schedule),
    )
    if resampled != wanted:
        raise CheckpointError(
            "the config differs from the run's in more than its sampling schedule: "
            "only diffusion.sample_schedule may change at export"
        )
    return resampled


def export_ema(
    run_or_checkpoint: Path, out: Path, *, fp16: bool = True, sampling: ModelConfig | None = None
) -> Path:
    """Write the EMA weights of ``run_or_checkpoint`` (a run's OUT: its latest checkpoint; or one
    checkpoint directory) to ``out``, in float16 unless ``fp16`` is off, with the step in its metadata;
    with ``sampling``, its sampling schedule replaces the run's (:func:`with_sampling_of`)."""
    directory = run_or_checkpoint
    if not (directory / EMA_WEIGHTS).is_file():
        latest = latest_checkpoint(run_or_checkpoint)
        if latest is None:
            raise ResumeError(f"{run_or_checkpoint} is neither a run with checkpoints nor a checkpoint")
        directory = latest
    ema = read_checkpoint(directory / EMA_WEIGHTS)
    metadata = {"step": ema.metadata.get("step", "?"), "weights": "ema"}
    dtype = torch.float16 if fp16 else None
    config = ema.config if sampling is None else with_sampling_of(ema.config, sampling)
    return save_checkpoint(out, ema.state, config, dtype=dtype, metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="palette export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a run's OUT, or one checkpoint directory")
    parser.add_argument("--out", type=Path, required=True, help="the inference checkpoint to write")
    parser.add_argument("--fp32", action="store_true", help="keep float32 (default: float16, half the size)")
    parser.add_argument(
        "--config", type=Path, help="a training config whose sampling schedule the weights take (see above)"
    )
    args = parser.parse_args(argv)
    try:
        sampling = TrainConfig.load(args.config).model if args.config else None
        path = export_ema(args.run, args.out, fp16=not args.fp32, sampling=sampling)
    except (ResumeError, CheckpointError, OSError, ValueError) as error:
        print(f"palette export: {error}", file=sys.stderr)
        return 2
    step = read_checkpoint(path).metadata.get("step")
    print(f"EMA weights of step {step} -> {path}")
    return 0

"""``palette export``: the EMA weights of a run's latest checkpoint as an inference checkpoint.

A long CPU run spans sessions and is never "finished": at the end of each session its newest EMA weights
are shipped (``model/weights/``) while the run itself stays resumable elsewhere. This writes exactly what
the trainer's final export writes, from any checkpoint, without touching the run.

    palette export --run runs/residual-64 --out model/weights/palette-default.safetensors

``--config`` takes the *sampling* schedule from a training config: the levels a sampler walks are an
inference choice the evaluation tunes (a lower ``sigma_max`` for the one-step estimate, say) and that a
running run must not be restarted for; every other field of the model config must already agree, so
the weights are never described by a recipe they were not trained with.

``--average`` stores the mean of the run's EMA weights and another checkpoint of the same network (a model
soup of two ingredients, Wortsman et al. 2022): a run fine-tuned from shipped weights can trade what it
gained against what the restart cost (the model card's session 7). The two must agree on everything that
gives the network's output its meaning; only how training drew its examples may differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch
from torch import Tensor

from model.checkpoint import Checkpoint, CheckpointError, read_checkpoint, save_checkpoint
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


def inference_view(config: ModelConfig) -> tuple[object, ...]:
    """What gives a network's output its meaning: its shape, tasks, and how the samplers read it."""
    d = config.diffusion
    return (
        config.unet, config.tasks, d.prediction, d.target, d.prior, d.preconditioning, d.sigma_data,
        d.sample_schedule,
    )  # fmt: skip


def averaged(state: dict[str, Tensor], other: Checkpoint, config: ModelConfig) -> dict[str, Tensor]:
    """The tensor-by-tensor mean of ``state`` and ``other``'s, in float32; refused unless ``other`` is the
    same network read the same way (:func:`inference_view`)."""
    if inference_view(other.config) != inference_view(config) or other.state.keys() != state.keys():
        raise CheckpointError(
            "the checkpoint to average with is another network, or is sampled differently: only the "
            "training draw (noise levels, loss weighting, start levels) may differ"
        )
    return {
        name: (tensor.float() + other.state[name].float()) / 2 if tensor.is_floating_point() else tensor
        for name, tensor in state.items()
    }


def export_ema(
    run_or_checkpoint: Path,
    out: Path,
    *,
    fp16: bool = True,
    sampling: ModelConfig | None = None,
    average_with: Path | None = None,
) -> Path:
    """Write the EMA weights of ``run_or_checkpoint`` (a run's OUT: its latest checkpoint; or one
    checkpoint directory) to ``out``, in float16 unless ``fp16`` is off, with the step in its metadata;
    with ``sampling``, its sampling schedule replaces the run's (:func:`with_sampling_of`); with
    ``average_with``, the mean of those weights and that checkpoint's (:func:`averaged`)."""
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
    state = ema.state
    if average_with is not None:
        other = read_checkpoint(average_with)
        state = averaged(state, other, config)
        metadata["weights"] = (
            f"mean of the EMA weights and {average_with.name} (step {other.metadata.get('step', '?')})"
        )
    return save_checkpoint(out, state, config, dtype=dtype, metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="palette export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a run's OUT, or one checkpoint directory")
    parser.add_argument("--out", type=Path, required=True, help="the inference checkpoint to write")
    parser.add_argument("--fp32", action="store_true", help="keep float32 (default: float16, half the size)")
    parser.add_argument(
        "--config", type=Path, help="a training config whose sampling schedule the weights take (see above)"
    )
    parser.add_argument(
        "--average",
        type=Path,
        help="a checkpoint of the same network to average the weights with (see above)",
    )
    args = parser.parse_args(argv)
    try:
        sampling = TrainConfig.load(args.config).model if args.config else None
        path = export_ema(
            args.run, args.out, fp16=not args.fp32, sampling=sampling, average_with=args.average
        )
    except (ResumeError, CheckpointError, OSError, ValueError) as error:
        print(f"palette export: {error}", file=sys.stderr)
        return 2
    metadata = read_checkpoint(path).metadata
    print(f"{metadata.get('weights')}, step {metadata.get('step')} -> {path}")
    return 0

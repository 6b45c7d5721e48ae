"""``palette export``: the EMA weights of a run's latest checkpoint as an inference checkpoint.

A long CPU run spans sessions and is never "finished": at the end of each session its newest EMA weights
are shipped (``model/weights/``) while the run itself stays resumable elsewhere. This writes exactly what
the trainer's final export writes, from any checkpoint, without touching the run.

    palette export --run runs/residual-64 --out model/weights/palette-default.safetensors

``--config`` takes the *inference* settings from a training config: the levels a sampler walks (a lower
``sigma_max`` for the one-step estimate, say) and a residual model's taper are choices the evaluation tunes
and that a running run must not be restarted for; every other field of the model config must already
agree, so the weights are never described by a recipe they were not trained with. ``--set`` changes one
the same way, on the run's own config when no ``--config`` is given:

    palette export --run runs/residual-64 --out weights.safetensors --set model.diffusion.residual_taper=8

``--average`` stores the mean of the run's EMA weights and another checkpoint of the same network (a model
soup of two ingredients, Wortsman et al. 2022): a run fine-tuned from shipped weights can trade what it
gained against what the restart cost (the model card's session 7). The two must agree on everything that
gives the network's output its meaning; only how training drew its examples may differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from model.checkpoint import Checkpoint, CheckpointError, read_checkpoint, save_checkpoint
from model.config import ModelConfig
from model.training.config import TrainConfig, add_overrides_argument, apply_overrides
from model.training.state import EMA_WEIGHTS, ResumeError, latest_checkpoint

INFERENCE_FIELDS = ("sample_schedule", "residual_taper")  # of DiffusionConfig: how samples are drawn


def with_sampling_of(trained: ModelConfig, wanted: ModelConfig) -> ModelConfig:
    """``trained`` with the inference settings (:data:`INFERENCE_FIELDS`) of ``wanted``; refused when they
    differ in anything else."""
    inference = {name: getattr(wanted.diffusion, name) for name in INFERENCE_FIELDS}
    resampled = dataclasses.replace(trained, diffusion=dataclasses.replace(trained.diffusion, **inference))
    if resampled != wanted:
        raise CheckpointError(
            "the config differs from the run's in more than its inference settings: only "
            + " and ".join(f"diffusion.{name}" for name in INFERENCE_FIELDS)
            + " may change at export"
        )
    return resampled


def with_overrides(config: ModelConfig, overrides: Sequence[str]) -> ModelConfig:
    """``config`` with ``--set`` style overrides, keyed as in a training config (``model.diffusion...``)."""
    return ModelConfig.from_dict(apply_overrides({"model": config.to_dict()}, list(overrides))["model"])


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


def ema_weights_of(source: Path) -> Path:
    """The EMA weights file of a run's OUT (its latest checkpoint's), of one checkpoint directory, or an
    exported file itself (to change its inference settings)."""
    if source.is_file():
        return source
    if (source / EMA_WEIGHTS).is_file():
        return source / EMA_WEIGHTS
    latest = latest_checkpoint(source)
    if latest is None:
        raise ResumeError(f"{source} is neither a run with checkpoints, a checkpoint nor a weights file")
    return latest / EMA_WEIGHTS


def export_ema(
    run_or_checkpoint: Path,
    out: Path,
    *,
    fp16: bool = True,
    sampling: ModelConfig | None = None,
    overrides: Sequence[str] = (),
    average_with: Path | None = None,
) -> Path:
    """Write the EMA weights of ``run_or_checkpoint`` (:func:`ema_weights_of`) to ``out``, in float16
    unless ``fp16`` is off, with the step in its metadata; with ``sampling``, its inference settings
    replace the run's (:func:`with_sampling_of`), then ``overrides`` set theirs (:func:`with_overrides`);
    with ``average_with``, the mean of those weights and that checkpoint's (:func:`averaged`)."""
    ema = read_checkpoint(ema_weights_of(run_or_checkpoint))
    metadata = {"step": ema.metadata.get("step", "?"), "weights": ema.metadata.get("weights", "ema")}
    dtype = torch.float16 if fp16 else None
    wanted = with_overrides(sampling or ema.config, overrides)
    config = ema.config if wanted == ema.config else with_sampling_of(ema.config, wanted)
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
    parser.add_argument(
        "--run",
        type=Path,
        required=True,
        help="a run's OUT, one checkpoint directory, or an exported weights file",
    )
    parser.add_argument("--out", type=Path, required=True, help="the inference checkpoint to write")
    parser.add_argument("--fp32", action="store_true", help="keep float32 (default: float16, half the size)")
    parser.add_argument(
        "--config", type=Path, help="a training config whose inference settings the weights take (see above)"
    )
    parser.add_argument(
        "--average",
        type=Path,
        help="a checkpoint of the same network to average the weights with (see above)",
    )
    add_overrides_argument(
        parser, "an inference setting, keyed as in palette train (e.g. model.diffusion.residual_taper=8)"
    )
    args = parser.parse_args(argv)
    try:
        sampling = TrainConfig.load(args.config).model if args.config else None
        path = export_ema(
            args.run,
            args.out,
            fp16=not args.fp32,
            sampling=sampling,
            overrides=args.overrides,
            average_with=args.average,
        )
    except (ResumeError, CheckpointError, OSError, ValueError) as error:
        print(f"palette export: {error}", file=sys.stderr)
        return 2
    metadata = read_checkpoint(path).metadata
    print(f"{metadata.get('weights')}, step {metadata.get('step')} -> {path}")
    return 0

"""Typed configuration of a training run, stored as JSON next to its outputs (``OUT/config.json``).

The optimisation defaults are the paper's (Saharia et al. 2022): Adam at a fixed 1e-4 after 10k linear
warm-up steps, batch 1024, 1M steps, EMA decay 0.9999, L2 loss; plus two safeguards the paper does not
mention, EMA warm-up and gradient clipping at norm 1 (configs/paper-256.json turns both off). The model
itself is a :class:`~model.config.ModelConfig`, the same object every checkpoint embeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.config import ModelConfig, from_dict
from model.data.dataset import task_probabilities
from model.runtime.precision import Precision
from model.sampling import SamplerKind
from model.tasks import get_task


@dataclass(frozen=True)
class DataConfig:
    """Where training images come from and how examples are made from them (see model.data.dataset)."""

    # Folder of training photographs (png/jpg/webp, any size, searched recursively).
    train_dir: str = "data/demo/train"
    # Folder of held-out photographs for the evaluation batch; None evaluates on train_dir crops.
    val_dir: str | None = None
    # Relative frequency of each task of model.tasks, e.g. {"inpaint": 2, "colorize": 1, ...};
    # empty = uniform. Must name exactly the model's tasks.
    task_weights: dict[str, float] = field(default_factory=dict)
    # Crop area as a fraction (min, max) of the largest square in the photograph; small crops zoom in.
    crop_scale: tuple[float, float] = (0.25, 1.0)
    # Draw the crop area log-uniformly in crop_scale instead of uniformly: every zoom between native pixels
    # (a min of (resolution / short side)^2) and the whole photo equally often.
    log_uniform_crops: bool = False
    # Mirror half of the crops left-right.
    horizontal_flip: bool = True
    # Keep decoded photographs in memory (shared by DataLoader workers); off for folders too big for RAM.
    cache_images: bool = True
    # Downscale photographs whose short side is longer than this when decoding; None keeps full size.
    max_short_side: int | None = None
    # DataLoader worker processes per rank; 0 makes examples in the training process.
    workers: int = 2


@dataclass(frozen=True)
class OptimizerConfig:
    """AdamW with a linear warm-up to a constant learning rate (the paper's schedule), optionally annealed
    linearly at the end of the run."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    # Decoupled weight decay; 0 is the paper's plain Adam.
    weight_decay: float = 0.0
    # Optimizer steps over which the learning rate rises linearly from lr / warmup_steps to lr.
    warmup_steps: int = 10_000
    # Clip the global gradient norm to this value; None disables clipping.
    grad_clip_norm: float | None = 1.0
    # Anneal: the rate falls linearly to almost 0 over the run's last this many steps (0 = constant to the
    # end, the paper's). A short run gains most from it; the EMA alone averages the noise of a constant rate
    # but not its bias.
    decay_steps: int = 0


@dataclass(frozen=True)
class EMAConfig:
    """Exponential moving average of the weights: the EMA weights are the ones that are shipped."""

    # Largest decay; the paper uses 0.9999 over 1M steps.
    decay: float = 0.9999
    # EMA warm-up (k-diffusion's): decay at step t is min(decay, 1 - (1 + t)^-power), so early weights,
    # which are far from the final ones, are forgotten quickly. None uses `decay` from step 0 (the paper).
    warmup_power: float | None = 0.75


@dataclass(frozen=True)
class EvalConfig:
    """Periodic evaluation on a fixed batch (from data.val_dir, else data.train_dir)."""

    # Evaluate every this many optimizer steps (and after the last step).
    every: int = 5_000
    # Rows of the sample grid per task: each row is source | samples | target.
    images_per_task: int = 2
    # DDIM samples per row, drawn with the EMA weights.
    samples_per_image: int = 2
    # DDIM steps per sample (deterministic, eta = 0); default: what a request naming no sampler runs (the
    # one-step estimate), the setting the model card's evaluation supports for the residual recipe.
    sampler_steps: int = SamplerKind.DDIM.default_steps
    # Examples per task for the validation loss (fixed crops, noise and noise levels).
    loss_examples_per_task: int = 16


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # Global batch per optimizer step, summed over all ranks (each rank takes batch_size / world_size).
    batch_size: int = 1024
    # Run each rank's share of the batch as this many micro-batches, one after the other, accumulating
    # gradients, to fit a large batch in memory; the optimizer step and its examples are unchanged.
    grad_accumulation: int = 1
    # Length of the run in optimizer steps.
    steps: int = 1_000_000
    # Autocast precision of the forward pass; None = bf16 on CUDA and on CPUs with native bf16, else fp32
    # (model.runtime.precision.default_training_precision). fp16 (CUDA only) uses a gradient scaler.
    # Weights, optimizer state and EMA always stay float32.
    precision: Precision | None = None
    # Seeds the initial weights, the example stream, the diffusion noise and the evaluation batch.
    seed: int = 0
    # Where checkpoints, samples, metrics and the final weights go (the CLI's --out overrides it).
    out_dir: str = "runs/palette"
    # Log the mean training loss, learning rate and throughput every this many steps.
    log_every: int = 50
    # Write a resumable checkpoint every this many steps (and after the last step).
    checkpoint_every: int = 5_000
    # Resumable checkpoints to keep on disk; older ones are deleted.
    keep_checkpoints: int = 3
    # Write OUT/final.safetensors (the EMA weights) in float16, halving its size.
    export_fp16: bool = False
    # Start a new run from these inference weights (network and EMA alike, the optimizer fresh): how a long
    # CPU run continues from the weights an earlier session shipped when its resume state is gone. The
    # network must have the same shape; the recipe (model.diffusion) may differ. Ignored when resuming.
    init_weights: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "batch_size",
            "grad_accumulation",
            "steps",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for task in self.model.tasks:
            get_task(task)
        task_probabilities(self.model.tasks, self.data.task_weights)
        low, high = self.data.crop_scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"data.crop_scale must satisfy 0 < min <= max <= 1, got {self.data.crop_scale}")
        if self.data.workers < 0:
            raise ValueError("data.workers cannot be negative")
        if self.optimizer.warmup_steps < 0 or self.optimizer.decay_steps < 0:
            raise ValueError("optimizer.warmup_steps and optimizer.decay_steps cannot be negative")
        if not 0.0 <= self.ema.decay < 1.0:
            raise ValueError(f"ema.decay must be in [0, 1), got {self.ema.decay}")
        if self.eval.every < 1 or self.eval.images_per_task < 1 or self.eval.samples_per_image < 1:
            raise ValueError("eval.every, eval.images_per_task and eval.samples_per_image must be at least 1")
        if self.eval.sampler_steps < 1 or self.eval.loss_examples_per_task < 1:
            raise ValueError("eval.sampler_steps and eval.loss_examples_per_task must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        # Enums are str subclasses and tuples become lists, so the result is plain JSON data.
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Missing keys take their defaults; unknown keys are an error (a typo never goes unnoticed)."""
        return from_dict(cls, data)

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
        """Read a JSON config and apply ``--set`` style overrides (``dotted.key=value``)."""
        data = json.loads(Path(path).read_text())
        return cls.from_dict(apply_overrides(data, overrides or []))


def add_overrides_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """The ``--set KEY=VALUE`` option (repeatable) whose values :func:`apply_overrides` applies, as
    ``args.overrides``."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``a.b.c=value`` sets data["a"]["b"]["c"]; the value is parsed as JSON when it is valid JSON
    (numbers, true/false/null, lists, objects) and taken as a string otherwise."""
    data = json.loads(json.dumps(data))  # a deep copy that is plain JSON data
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise ValueError(f"an override must look like dotted.key=value, got {override!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        *parents, leaf = key.split(".")
        node = data
        for index, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(
                    f"{'.'.join(parents[: index + 1])} is not a section in override {override!r}"
                )
            node = child
        node[leaf] = value
    return data

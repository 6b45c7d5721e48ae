"""Resumable training checkpoints: one directory per step, written atomically, the last K kept.

``OUT/checkpoints/step-0001000/`` holds

- ``ema.safetensors``: the EMA weights as an inference checkpoint (model config embedded), loadable by
  ``PalettePipeline.from_checkpoint`` and ``palette sample --weights``;
- ``model.safetensors``: the raw weights, in the same format;
- ``optimizer.safetensors``: the optimizer's tensors (Adam moments and step counts);
- ``rng.safetensors``: every rank's torch generator states;
- ``state.json``: the step, the position in the example stream, the optimizer's remaining state, the
  gradient scaler, every rank's numpy and Python generator states, and the config that was trained.

Nothing is pickled: a checkpoint cannot run code when it is loaded. A directory is written under a
temporary name and renamed into place, and ``checkpoints/latest`` (a text file naming the newest
directory) is replaced atomically after it, so a crash at any moment leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from model.checkpoint import read_checkpoint, save_checkpoint
from model.config import ModelConfig
from model.training.rng import RngState

FORMAT = "palette-training-state/1"
CHECKPOINTS = "checkpoints"
LATEST = "latest"
EMA_WEIGHTS = "ema.safetensors"
RAW_WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
RNG = "rng.safetensors"
STATE = "state.json"
_STEP_DIRECTORY = re.compile(r"^step-(\d{7,})$")


class ResumeError(RuntimeError):
    """A checkpoint cannot be resumed from; the message says why."""


@dataclass(frozen=True)
class TrainingProgress:
    """Where a run stands: optimizer steps taken, and the next position in the example stream (equal to
    steps * batch_size unless the batch size changed on a resume)."""

    step: int
    examples_seen: int
    # Optimizer steps the weights had taken before this run (a run started from shipped weights, which a
    # CPU run spanning sessions does whenever its resume state is lost): the weights it writes report
    # the steps they have really had, while the run's own schedule (warm-up, decay, checkpoints) counts
    # from its own start.
    steps_before: int = 0

    @property
    def trained_steps(self) -> int:
        """What the weights this run writes have had in all: ``steps_before + step``."""
        return self.steps_before + self.step


@dataclass(frozen=True)
class TrainingState:
    """Everything a checkpoint restores."""

    progress: TrainingProgress
    model: dict[str, Tensor]
    ema: dict[str, Tensor]
    optimizer: dict[str, Any]  # a torch optimizer state_dict
    grad_scaler: dict[str, Any]
    rng: list[RngState]  # one per rank of the run that wrote it
    device_type: str


def step_directory_name(step: int) -> str:
    return f"step-{step:07d}"


def checkpoints_root(out_dir: Path) -> Path:
    return out_dir / CHECKPOINTS


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The directory ``OUT/checkpoints/latest`` names, or None when the run has no checkpoint yet."""
    pointer = checkpoints_root(out_dir) / LATEST
    if not pointer.is_file():
        return None
    directory = pointer.parent / pointer.read_text().strip()
    if not (directory / STATE).is_file():
        raise ResumeError(f"{pointer} names {directory.name}, which is not a complete checkpoint")
    return directory


def split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """A torch optimizer state_dict -> (tensors for safetensors, everything else as JSON data)."""
    tensors: dict[str, Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                other.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "state": other}


def join_optimizer_state(tensors: dict[str, Tensor], data: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`split_optimizer_state` (JSON lists back to the tuples torch uses)."""
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    for index, values in data["state"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [
        {
            name: (tuple(value) if isinstance(value, list) and name != "params" else value)
            for name, value in g.items()
        }
        for g in data["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def save_training_checkpoint(
    out_dir: Path,
    *,
    progress: TrainingProgress,
    model_config: ModelConfig,
    train_config: dict[str, Any],
    network: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    grad_scaler: dict[str, Any],
    rng: Sequence[RngState],
    device_type: str,
    keep: int,
) -> Path:
    """Write the checkpoint for ``progress.step``, point ``latest`` at it and delete all but the newest
    ``keep`` checkpoints. Returns the checkpoint directory."""
    root = checkpoints_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_directory_name(progress.step)
    staging = root / f".{final.name}.tmp"
    if staging.exists():
        shutil.rmtree(staging)  # left behind by a run that crashed while writing this step
    staging.mkdir()

    metadata = {"step": str(progress.trained_steps)}
    save_checkpoint(
        staging / EMA_WEIGHTS, ema.state_dict(), model_config, metadata={**metadata, "weights": "ema"}
    )
    save_checkpoint(
        staging / RAW_WEIGHTS, network.state_dict(), model_config, metadata={**metadata, "weights": "raw"}
    )
    optimizer_tensors, optimizer_rest = split_optimizer_state(optimizer.state_dict())
    save_file(optimizer_tensors, str(staging / OPTIMIZER))
    rng_tensors = {
        f"rank{rank}.{name}": t for rank, state in enumerate(rng) for name, t in state.tensors().items()
    }
    save_file(rng_tensors, str(staging / RNG))
    state = {
        "format": FORMAT,
        "step": progress.step,
        "examples_seen": progress.examples_seen,
        "steps_before": progress.steps_before,
        "world_size": len(rng),
        "device_type": device_type,
        "optimizer": optimizer_rest,
        "grad_scaler": grad_scaler,
        "rng": [rank_state.json() for rank_state in rng],
        "config": train_config,
    }
    (staging / STATE).write_text(json.dumps(state, indent=1))

    if final.exists():  # a resumed run that went back to an earlier step rewrites this one
        discarded = root / f".{final.name}.old"
        os.replace(final, discarded)
        os.replace(staging, final)
        shutil.rmtree(discarded)
    else:
        os.replace(staging, final)
    pointer = root / f".{LATEST}.tmp"
    pointer.write_text(final.name + "\n")
    os.replace(pointer, root / LATEST)
    _prune(root, progress.step, keep)
    return final


def _prune(root: Path, step: int, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints up to ``step``. Checkpoints past ``step`` (left by a
    run that was resumed from an earlier one) are not touched: they are replaced when the run gets there."""
    steps = sorted(
        (int(match.group(1)), path)
        for path in root.iterdir()
        if path.is_dir() and (match := _STEP_DIRECTORY.match(path.name)) and int(match.group(1)) <= step
    )
    for _, path in steps[: max(0, len(steps) - keep)]:
        shutil.rmtree(path)


def load_training_checkpoint(directory: Path, model_config: ModelConfig) -> TrainingState:
    """Read a checkpoint directory written by :func:`save_training_checkpoint`, checking that it was
    trained with ``model_config`` (a different network shape or objective cannot be resumed)."""
    state_file = directory / STATE
    if not state_file.is_file():
        raise ResumeError(f"{directory} is not a training checkpoint (no {STATE})")
    state = json.loads(state_file.read_text())
    if state.get("format") != FORMAT:
        raise ResumeError(f"{state_file} has format {state.get('format')!r}, expected {FORMAT!r}")
    raw = read_checkpoint(directory / RAW_WEIGHTS)
    if raw.config != model_config:
        raise ResumeError(
            f"{directory} was trained with a different model config; the model section of the training "
            "config cannot change on resume"
        )
    ema = read_checkpoint(directory / EMA_WEIGHTS)
    rng_tensors = load_file(str(directory / RNG))
    rng = []
    for rank, data in enumerate(state["rng"]):
        prefix = f"rank{rank}."
        tensors = {name.removeprefix(prefix): t for name, t in rng_tensors.items() if name.startswith(prefix)}
        rng.append(RngState.from_parts(tensors, data))
    return TrainingState(
        progress=TrainingProgress(
            step=state["step"],
            examples_seen=state["examples_seen"],
            steps_before=state.get("steps_before", 0),
        ),
        model=raw.state,
        ema=ema.state,
        optimizer=join_optimizer_state(load_file(str(directory / OPTIMIZER)), state["optimizer"]),
        grad_scaler=state["grad_scaler"],
        rng=rng,
        device_type=state["device_type"],
    )

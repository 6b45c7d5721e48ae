"""Checkpoints: one safetensors file holding the weights with the model config embedded as JSON metadata.

A single file cannot lose its config, and safetensors cannot run code on load (unlike pickle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from model.config import ModelConfig
from model.nn import PaletteUNet, create_network

FORMAT = "palette-checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or not a Palette checkpoint; the message says which and why."""


@dataclass(frozen=True)
class Checkpoint:
    config: ModelConfig
    state: dict[str, Tensor]
    metadata: dict[str, str]


def save_checkpoint(
    path: str | Path,
    state: Mapping[str, Tensor],
    config: ModelConfig,
    *,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``state`` (optionally cast to ``dtype``, e.g. float16 to halve the file) with ``config``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (
            tensor.detach().to(dtype) if dtype is not None and tensor.is_floating_point() else tensor.detach()
        )
        .cpu()
        .contiguous()
        for name, tensor in state.items()
    }
    header = {"format": FORMAT, "config": config.to_json(), **(metadata or {})}
    temporary = path.with_name(path.name + ".tmp")
    save_file(tensors, str(temporary), metadata=header)
    temporary.replace(path)  # atomic: a crash mid-write never leaves a truncated checkpoint behind
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            state = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {error}") from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a Palette checkpoint (format {FORMAT})")
    try:
        config = ModelConfig.from_json(metadata["config"])
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {path} has an invalid config: {error}") from error
    return Checkpoint(config=config, state=state, metadata=metadata)


def build_network(checkpoint: Checkpoint, device: torch.device | str = "cpu") -> PaletteUNet:
    """The network the checkpoint describes, with its weights, in eval mode, float32 on ``device``."""
    network = create_network(checkpoint.config)
    misfit = describe_misfit(network.state_dict(), checkpoint.state)
    if misfit:
        raise CheckpointError(f"checkpoint weights do not fit the network its config describes: {misfit}")
    network.load_state_dict(checkpoint.state, strict=True)
    return network.to(device).eval()


def describe_misfit(expected: Mapping[str, Tensor], found: Mapping[str, Tensor]) -> str:
    """One line saying how ``found`` differs from ``expected`` (empty if it fits): a worker refusing to start
    prints it as its only line, where PyTorch's own message lists every tensor on a line of its own."""
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    reshaped = sorted(n for n in expected.keys() & found.keys() if expected[n].shape != found[n].shape)
    parts = []
    if reshaped:
        first = reshaped[0]
        parts.append(
            f"{len(reshaped)} tensors have other shapes (first: {first} is {list(found[first].shape)}, "
            f"the network's {list(expected[first].shape)})"
        )
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
    return "; ".join(parts)

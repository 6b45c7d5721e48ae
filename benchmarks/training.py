"""Training speed: one optimizer step (forward, loss, backward, AdamW update) per precision and memory
layout, side by side in one run: the table behind the training default precision
(model.runtime.precision.default_training_precision).

    python benchmarks/training.py --threads 1                 # the bundled model's recipe, batch 16
    python benchmarks/training.py --configs fp32,bf16 --batch 32
    python benchmarks/training.py --quick                     # CPU, tiny model (CI)

Configurations: a ``+`` list of fp32|bf16|fp16 (the autocast precision, as the trainer applies it) and
optionally cl (channels_last weights and inputs). Every configuration trains its own copy of the same
random network on the same batch, noise levels and noise, timed in turns (the order rotating each round,
median over the rounds after a warm-up step), so the ratios compare like with like on a shared machine;
the first step's loss is printed beside the time, so that a row which computes something else shows.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from common import REPO, TINY_UNET, machine, random_network, synchronize

from model.config import ModelConfig
from model.diffusion.objective import TrainingObjective
from model.pipeline import resolve_device
from model.runtime.precision import Precision, autocast, check_precision
from model.training import TrainConfig

DEFAULT_CONFIG = REPO / "configs" / "residual-64.json"
CPU_CONFIGS = "fp32,fp32+cl,bf16,bf16+cl"
PRECISIONS = {precision.value for precision in Precision}


@dataclass(frozen=True)
class Configuration:
    name: str
    precision: Precision
    channels_last: bool


@dataclass(frozen=True)
class Row:
    configuration: str
    batch: int
    ms_per_step: float
    first_loss: float


def parse_configuration(name: str, device: torch.device) -> Configuration:
    tokens = name.split("+")
    precisions = [Precision(token) for token in tokens if token in PRECISIONS]
    unknown = [token for token in tokens if token not in PRECISIONS and token != "cl"]
    if unknown or len(precisions) != 1:
        raise ValueError(f"{name!r}: expected one of fp32|bf16|fp16, optionally +cl")
    check_precision(precisions[0], device)
    return Configuration(name, precisions[0], "cl" in tokens)


class Arm:
    """One configuration's network, optimizer and inputs; :meth:`step` is one training step."""

    def __init__(
        self, configuration: Configuration, network: torch.nn.Module, model: ModelConfig, batch: int
    ) -> None:
        self.configuration = configuration
        layout = torch.channels_last if configuration.channels_last else torch.contiguous_format
        self.network = copy.deepcopy(network).train().to(memory_format=layout)  # type: ignore[call-overload]
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=1e-5)
        device = next(network.parameters()).device
        self.objective = TrainingObjective(model.diffusion, device)
        generator = torch.Generator(device).manual_seed(0)
        size = model.unet.image_size

        def image(channels: int) -> torch.Tensor:
            values = torch.rand((batch, channels, size, size), device=device, generator=generator) * 2 - 1
            return values.contiguous(memory_format=layout)

        self.source, self.target = image(model.unet.out_channels), image(model.unet.out_channels)
        mask_shape = (batch, model.unet.mask_channels, size, size)
        self.mask = torch.ones(mask_shape, device=device).contiguous(memory_format=layout)
        self.gamma, self.from_source = self.objective.sample_levels(batch, generator)
        self.noise = image(model.unet.out_channels)

    def step(self) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.source.device, self.configuration.precision):
            loss = self.objective.loss(
                self.network,
                self.source,
                self.mask,
                self.target,
                gamma=self.gamma,
                noise=self.noise,
                from_source=self.from_source,
            )
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def measure(arms: list[Arm], repeats: int, device: torch.device) -> list[Row]:
    first_losses = [arm.step() for arm in arms]  # also the warm-up: oneDNN's primitives are created here
    times: list[list[float]] = [[] for _ in arms]
    for round_index in range(repeats):
        order = [(round_index + offset) % len(arms) for offset in range(len(arms))]
        for index in order:
            synchronize(device)
            started = time.perf_counter()
            arms[index].step()
            synchronize(device)
            times[index].append(time.perf_counter() - started)
    return [
        Row(arm.configuration.name, arm.source.shape[0], statistics.median(t) * 1e3, loss)
        for arm, t, loss in zip(arms, times, first_losses, strict=True)
    ]


def format_table(rows: list[Row]) -> str:
    reference = rows[0].ms_per_step
    lines = [
        f"| configuration | batch | ms/step | images/s | x {rows[0].configuration} | first-step loss |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        images_per_second = row.batch / (row.ms_per_step / 1e3)
        lines.append(
            f"| {row.configuration} | {row.batch} | {row.ms_per_step:.1f} | {images_per_second:.2f} "
            f"| {reference / row.ms_per_step:.2f} | {row.first_loss:.5f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="a training config (its model)")
    parser.add_argument("--configs", help=f"comma-separated configurations (CPU default: {CPU_CONFIGS})")
    parser.add_argument("--batch", type=int, help="examples per step (default: the config's batch_size)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per configuration")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda")
    parser.add_argument("--quick", action="store_true", help="the tiny model on the CPU, 2 steps (CI)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    device = torch.device("cpu") if args.quick else resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig.load(args.config)
    model = ModelConfig(unet=TINY_UNET, diffusion=config.model.diffusion) if args.quick else config.model
    batch = 2 if args.quick else args.batch or config.batch_size
    repeats = 2 if args.quick else args.repeats
    names = args.configs or (CPU_CONFIGS if device.type == "cpu" else "fp32,bf16,bf16+cl")
    try:
        configurations = [parse_configuration(name, device) for name in names.split(",")]
    except ValueError as error:
        parser.error(str(error))
    network = random_network(model).to(device)
    arms = [Arm(configuration, network, model, batch) for configuration in configurations]
    info = machine(device)
    print(f"# {info['device']}; torch {info['torch']}; commit {info['commit']}")
    print(f"# load average before the run (1, 5, 15 min): {info['load_average']}")
    origin = "the tiny test network" if args.quick else args.config
    print(f"# {model.unet.image_size}x{model.unet.image_size}, {origin}; {repeats} timed steps each")
    print(format_table(measure(arms, repeats, device)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

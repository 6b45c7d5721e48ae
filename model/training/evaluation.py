"""Evaluation during training, on a batch that is fixed for the whole run so that numbers are comparable
from one evaluation to the next.

- Validation loss: the training objective on fixed examples, noise levels and noise, for the raw and the
  EMA weights, per task.
- Samples: a few deterministic DDIM samples per example from the EMA weights (through the same
  :class:`~model.pipeline.PalettePipeline` that serves requests), their PSNR against the ground truth over
  the generated pixels, and a grid ``OUT/samples/step-XXXXXXX.png`` with one row per example:
  source | samples | target, the rows grouped by task in the model's task order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from model.config import ModelConfig
from model.data.dataset import Example
from model.diffusion.objective import TrainingObjective
from model.imaging import tensor_to_images
from model.nn import PaletteUNet
from model.pipeline import Conditioning, PalettePipeline
from model.runtime.precision import Precision, autocast
from model.sampling import SamplerKind, SamplerSettings
from model.training.config import TrainConfig
from model.training.data import EVAL_STREAM, evaluation_examples
from model.training.rng import derive_seed

GRID_GAP = 2  # pixels of white between the tiles of the sample grid
MAX_PSNR = 100.0  # dB; reported for identical pixels instead of infinity, which JSON cannot hold


def masked_psnr(sample: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB of uint8 images over the pixels where ``mask`` is True (the generated ones: known pixels
    are copied from the source and would only inflate the score), at most MAX_PSNR."""
    error = (sample.astype(np.float64) - target.astype(np.float64)) ** 2
    mse = float(error[mask].mean())
    return MAX_PSNR if mse == 0.0 else min(MAX_PSNR, 10.0 * math.log10(255.0**2 / mse))


def sample_grid(rows: list[list[np.ndarray]]) -> Image.Image:
    """Tile equally sized (H, W, 3) uint8 images into a grid with white gaps."""
    size = rows[0][0].shape[0]
    columns = max(len(row) for row in rows)
    pitch = size + GRID_GAP
    canvas = np.full((len(rows) * pitch - GRID_GAP, columns * pitch - GRID_GAP, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas[r * pitch : r * pitch + size, c * pitch : c * pitch + size] = tile
    return Image.fromarray(canvas)


@dataclass(frozen=True)
class TaskBatch:
    """One task's fixed evaluation examples, with fixed noise levels and noise."""

    source: Tensor
    mask: Tensor
    target: Tensor
    gamma: Tensor
    noise: Tensor


def task_batch(
    examples: list[Example], generator: torch.Generator, objective: TrainingObjective, device: torch.device
) -> TaskBatch:
    """Stack ``examples`` and draw their noise levels and noise (on the CPU, so the batch is the same on
    every device) from ``generator``."""
    target = torch.stack([example.target for example in examples])
    gamma = objective.sample_levels(len(examples), generator).gamma
    noise = torch.randn(target.shape, generator=generator)
    return TaskBatch(
        source=torch.stack([example.source for example in examples]).to(device),
        mask=torch.stack([example.mask for example in examples]).to(device),
        target=target.to(device),
        gamma=gamma.to(device),
        noise=noise.to(device),
    )


class Evaluator:
    """Builds the fixed batch once; each call evaluates the current weights and writes the grid."""

    def __init__(self, config: TrainConfig, device: torch.device, precision: Precision) -> None:
        self.config = config
        self.device = device
        self.precision = precision
        self.model_config: ModelConfig = config.model
        examples = evaluation_examples(config)
        generator = torch.Generator().manual_seed(derive_seed(config.seed, EVAL_STREAM))
        cpu_objective = TrainingObjective(config.model.diffusion)
        self.batches = [
            task_batch(task_examples, generator, cpu_objective, device) for task_examples in examples
        ]
        self.objective = TrainingObjective(config.model.diffusion, device)
        self.settings = SamplerSettings(kind=SamplerKind.DDIM, steps=config.eval.sampler_steps)

    @torch.no_grad()
    def validation_loss(self, network: nn.Module) -> list[float]:
        """The fixed-batch loss per task; ``network`` is put in eval mode for it and restored after."""
        was_training = network.training
        network.eval()
        losses = []
        for batch in self.batches:
            with autocast(self.device, self.precision):
                loss = self.objective.loss(
                    network, batch.source, batch.mask, batch.target, gamma=batch.gamma, noise=batch.noise
                )
            losses.append(float(loss))
        network.train(was_training)
        return losses

    def samples(self, ema: PaletteUNet, path: Path) -> list[float]:
        """DDIM samples from ``ema`` for the first rows of every task: writes the grid to ``path`` and
        returns the mean masked PSNR per task."""
        pipeline = PalettePipeline(ema, self.model_config, self.device, self.precision)
        rows_per_task = self.config.eval.images_per_task
        per_row = self.config.eval.samples_per_image
        conditions, seeds, sources, targets, masks = [], [], [], [], []
        for task, batch in enumerate(self.batches):
            for row in range(rows_per_task):
                source = tensor_to_images(batch.source[row : row + 1])[0]
                mask = batch.mask[row, 0].bool().cpu().numpy()
                sources.append(source)
                targets.append(tensor_to_images(batch.target[row : row + 1])[0])
                masks.append(mask)
                for k in range(per_row):
                    conditions.append(Conditioning(source=source, mask=mask))
                    seeds.append(derive_seed(self.config.seed, EVAL_STREAM, task, row, k))
        samples = pipeline.sample(conditions, seeds, self.settings)
        grid, psnr = [], []
        for index, (source, target, mask) in enumerate(zip(sources, targets, masks, strict=True)):
            drawn = list(samples[index * per_row : (index + 1) * per_row])
            grid.append([source, *drawn, target])
            psnr.append(float(np.mean([masked_psnr(sample, target, mask) for sample in drawn])))
        path.parent.mkdir(parents=True, exist_ok=True)
        sample_grid(grid).save(path)
        return [
            float(np.mean(psnr[t * rows_per_task : (t + 1) * rows_per_task]))
            for t in range(len(self.batches))
        ]

    def __call__(self, network: nn.Module, ema: PaletteUNet, grid_path: Path) -> dict[str, Any]:
        """The metrics of one evaluation, as a JSON-ready record (without step and event)."""
        raw_loss = self.validation_loss(network)
        ema_loss = self.validation_loss(ema)
        psnr = self.samples(ema, grid_path)
        tasks = {
            name: {"val_loss": raw_loss[i], "val_loss_ema": ema_loss[i], "psnr_ema": psnr[i]}
            for i, name in enumerate(self.model_config.tasks)
        }
        return {
            "val_loss": float(np.mean(raw_loss)),
            "val_loss_ema": float(np.mean(ema_loss)),
            "psnr_ema": float(np.mean(psnr)),
            "tasks": tasks,
        }

"""The example stream of a training run, split between ranks, and the fixed evaluation examples."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from model.data.dataset import Example, PaletteDataset
from model.training.config import TrainConfig
from model.training.rng import derive_seed

EVAL_STREAM = 1  # derive_seed key separating the evaluation examples from the training stream


class StreamBatches(Sampler[list[int]]):
    """Stream positions for each optimizer step, from ``start`` on, endlessly, as micro-batches.

    Step s consumes positions ``start + s * B`` to ``start + (s + 1) * B - 1`` of the stream, with B the
    global batch; rank r takes the r-th contiguous slice of ``B / world_size`` and yields it as
    ``accumulation`` consecutive micro-batches. The examples of a step are therefore the same for any
    number of ranks, workers or micro-batches.
    """

    def __init__(
        self, start: int, batch_size: int, rank: int, world_size: int, accumulation: int = 1
    ) -> None:
        if batch_size % (world_size * accumulation):
            raise ValueError(
                f"batch_size {batch_size} does not split into {world_size} rank(s) x {accumulation} "
                "micro-batch(es) of equal size"
            )
        self.start = start
        self.batch_size = batch_size
        self.per_rank = batch_size // world_size
        self.micro_batch = self.per_rank // accumulation
        self.rank = rank

    def __iter__(self) -> Iterator[list[int]]:
        position = self.start + self.rank * self.per_rank
        while True:
            for offset in range(0, self.per_rank, self.micro_batch):
                yield list(range(position + offset, position + offset + self.micro_batch))
            position += self.batch_size


def training_dataset(config: TrainConfig) -> PaletteDataset:
    data = config.data
    return PaletteDataset(
        data.train_dir,
        resolution=config.model.resolution,
        tasks=config.model.tasks,
        task_weights=data.task_weights,
        crop_scale=data.crop_scale,
        horizontal_flip=data.horizontal_flip,
        seed=config.seed,
        cache_images=data.cache_images,
        max_short_side=data.max_short_side,
        prior=config.model.diffusion.source_prior,
        log_uniform_crops=data.log_uniform_crops,
    )


def training_loader(
    dataset: PaletteDataset, batches: StreamBatches, *, workers: int, device: torch.device
) -> DataLoader[Example]:
    # The loader's own generator only seeds worker processes (examples do not depend on it); giving it one
    # keeps it from drawing from the global torch generator, whose state the checkpoints restore.
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )


def evaluation_examples(config: TrainConfig) -> list[list[Example]]:
    """For each task of the model, the same examples at every evaluation: crops of the validation
    photographs (or the training ones, without val_dir), never flipped, with that task forced."""
    data = config.data
    dataset = PaletteDataset(
        data.val_dir or data.train_dir,
        resolution=config.model.resolution,
        tasks=config.model.tasks,
        crop_scale=data.crop_scale,
        horizontal_flip=False,
        seed=derive_seed(config.seed, EVAL_STREAM),
        cache_images=data.cache_images,
        max_short_side=data.max_short_side,
        prior=config.model.diffusion.source_prior,
        log_uniform_crops=data.log_uniform_crops,
    )
    count = max(config.eval.images_per_task, config.eval.loss_examples_per_task)
    images = len(dataset.files)
    return [
        [dataset.example(k % images, key=task * count + k, task=task) for k in range(count)]
        for task in range(len(config.model.tasks))
    ]

"""Training examples for a multi-task Palette model, made on the fly from a folder of photographs.

Each example is a random square crop of one photograph, resized to the model's resolution and optionally
flipped, then degraded by one task (drawn per example) into the conditioning (source, mask). Crops of
varied scale are the augmentation: a few dozen photographs give an effectively unlimited set of targets.

Everything random about example ``n`` of the stream comes from a generator seeded with ``(seed, n)``: the
stream is a pure function of the seed, so it is the same with any number of DataLoader workers or ranks,
and resuming at example ``n`` reproduces exactly what an uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from model.config import Prior
from model.imaging import images_to_tensor, masks_to_tensor
from model.tasks import Task, get_task
from model.tasks.prior import classical_prior

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
# Stream tags keep the generators of the different random choices independent of each other.
_EXAMPLE_STREAM = 0
_PERMUTATION_STREAM = 1


class DatasetError(RuntimeError):
    """The image folder cannot be used (missing, empty, or holding an unreadable image)."""


class Example(NamedTuple):
    """One training example; the DataLoader's default collation stacks each field into a batch."""

    source: Tensor  # (3, H, W) float32 in [-1, 1]: the conditioning x (or its classical prior)
    mask: Tensor  # (1, H, W) float32 in {0, 1}: 1 where the model generates pixels
    target: Tensor  # (3, H, W) float32 in [-1, 1]: the clean image y_0
    task: int  # index into the data set's task names (a (B,) int64 tensor once collated)


def list_images(root: str | Path) -> list[Path]:
    """Every .png/.jpg/.jpeg/.webp under ``root`` (recursively, skipping hidden files and folders), sorted
    by relative path so that image indices are the same on every machine."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    files = [
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DatasetError(f"no images ({suffixes}) found under {root}")
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def decode_image(path: Path, max_short_side: int | None = None) -> Image.Image:
    """An RGB image with its EXIF orientation applied, downscaled (Lanczos) so its short side is at most
    ``max_short_side``: a 6000-pixel photo costs 100 MB decoded, and a small model never needs those
    pixels. JPEGs are decoded at reduced scale directly (``draft``), which is several times faster."""
    try:
        with Image.open(path) as opened:
            if max_short_side is not None:
                scale = max_short_side / min(opened.size)
                if scale < 1.0:
                    opened.draft("RGB", (math.ceil(opened.width * scale), math.ceil(opened.height * scale)))
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"cannot decode image {path}: {error}") from error
    if max_short_side is not None and min(image.size) > max_short_side:
        scale = max_short_side / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def crop_side(
    short_side: int,
    resolution: int,
    scale: tuple[float, float],
    rng: np.random.Generator,
    *,
    log_uniform: bool = False,
) -> int:
    """The side of a random square crop: its area is a fraction of the largest square that fits in the
    image, uniform in ``scale``, or log-uniform with ``log_uniform`` (then every zoom factor between native
    pixels and the whole photo is equally likely, so a model sees full-resolution texture as often as the
    layout of whole scenes). Never smaller than ``resolution`` where the image allows it, so the network
    does not learn from upsampling blur."""
    low, high = scale
    area = math.exp(rng.uniform(math.log(low), math.log(high))) if log_uniform else rng.uniform(low, high)
    return min(short_side, max(round(short_side * math.sqrt(area)), resolution, 1))


def random_square_crop(
    image: Image.Image,
    resolution: int,
    scale: tuple[float, float],
    rng: np.random.Generator,
    *,
    log_uniform: bool = False,
) -> np.ndarray:
    """A random square crop of :func:`crop_side` resized (Lanczos) to ``resolution`` x ``resolution``, as
    (H, W, 3) uint8. Crops stay square, so objects are never stretched."""
    side = crop_side(min(image.size), resolution, scale, rng, log_uniform=log_uniform)
    left = int(rng.integers(0, image.width - side + 1))
    top = int(rng.integers(0, image.height - side + 1))
    box = (left, top, left + side, top + side)
    crop = image.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return np.asarray(crop, dtype=np.uint8)


def task_probabilities(tasks: Sequence[str], weights: dict[str, float] | None) -> np.ndarray:
    """Probability of each task; uniform without weights. Weights must name exactly ``tasks``."""
    if not weights:
        return np.full(len(tasks), 1.0 / len(tasks))
    if set(weights) != set(tasks):
        raise ValueError(f"task weights must name exactly the tasks {list(tasks)}, got {sorted(weights)}")
    values = np.array([float(weights[name]) for name in tasks])
    if (values < 0).any() or values.sum() <= 0:
        raise ValueError(f"task weights must be non-negative with a positive sum, got {weights}")
    return values / values.sum()


class PaletteDataset(Dataset[Example]):
    """An endless, deterministic stream of multi-task examples over the images of a folder.

    Item ``n`` is example ``n`` of the stream: pass ``n * len(images)`` onwards to go past one epoch. The
    stream visits every image once per epoch in an order shuffled per epoch.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        resolution: int,
        tasks: Sequence[str],
        task_weights: dict[str, float] | None = None,
        crop_scale: tuple[float, float] = (0.25, 1.0),
        horizontal_flip: bool = True,
        seed: int = 0,
        cache_images: bool = True,
        max_short_side: int | None = None,
        prior: Prior | None = None,
        log_uniform_crops: bool = False,
    ) -> None:
        """``prior`` replaces each source by that classical prior (:mod:`model.tasks.prior`), what a
        residual model is conditioned on."""
        if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {crop_scale}")
        if not tasks:
            raise ValueError("a data set needs at least one task")
        self.files = list_images(root)
        self.resolution = resolution
        self.task_names = tuple(tasks)
        self.tasks: tuple[Task, ...] = tuple(get_task(name) for name in tasks)
        self.probabilities = task_probabilities(self.task_names, task_weights)
        self.crop_scale = crop_scale
        self.horizontal_flip = horizontal_flip
        self.seed = seed
        self.max_short_side = max_short_side
        self.prior = prior
        self.log_uniform_crops = log_uniform_crops
        # Decoded before any DataLoader worker forks, so the workers share these pages instead of each
        # decoding (and holding) its own copy.
        self.cache: list[Image.Image] | None = (
            [decode_image(path, max_short_side) for path in self.files] if cache_images else None
        )
        self._permutations: dict[int, np.ndarray] = {}

    def image(self, index: int) -> Image.Image:
        if self.cache is not None:
            return self.cache[index]
        return decode_image(self.files[index], self.max_short_side)

    def permutation(self, epoch: int) -> np.ndarray:
        """The order in which epoch ``epoch`` visits the images. The two most recent are kept: consecutive
        positions are in the same or the next epoch, and shuffling a large folder per example would cost
        more than making the example."""
        if epoch not in self._permutations:
            if len(self._permutations) >= 2:
                del self._permutations[min(self._permutations)]
            rng = np.random.default_rng([self.seed, _PERMUTATION_STREAM, epoch])
            self._permutations[epoch] = rng.permutation(len(self.files))
        return self._permutations[epoch]

    def __getitem__(self, position: int) -> Example:
        epoch, offset = divmod(int(position), len(self.files))
        return self.example(int(self.permutation(epoch)[offset]), key=int(position))

    def example(self, image_index: int, *, key: int, task: int | None = None) -> Example:
        """The example made from image ``image_index`` with the random choices of stream position ``key``;
        ``task`` forces a task (an index into ``task_names``) instead of drawing one."""
        rng = np.random.default_rng([self.seed, _EXAMPLE_STREAM, key])
        target = random_square_crop(
            self.image(image_index), self.resolution, self.crop_scale, rng, log_uniform=self.log_uniform_crops
        )
        if self.horizontal_flip and rng.random() < 0.5:
            target = np.ascontiguousarray(target[:, ::-1])
        drawn = int(rng.choice(len(self.tasks), p=self.probabilities))  # drawn even when forced, so a
        task_index = drawn if task is None else task  # forced task degrades with the same random choices
        degraded = self.tasks[task_index].degrade(target, rng)
        source = degraded.source
        if self.prior is not None:
            source = classical_prior(source, degraded.mask, self.prior)
        return Example(
            source=images_to_tensor([source])[0],
            mask=masks_to_tensor([degraded.mask])[0],
            target=images_to_tensor([target])[0],
            task=task_index,
        )

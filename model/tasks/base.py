"""What a task is: a degradation that makes the source x from a target y (for training and evaluation),
and the validation of a user's inputs (for the API and the worker alike). How an upload becomes a job at
its own resolution is one place for every task, :mod:`model.fullres`.

Tasks work on uint8 numpy arrays and PIL images only, so the API process can validate inputs with them
without importing torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image

MASK_FILL = 128  # value of unknown pixels in the source: the middle of the data range, 0 after scaling


class TaskInputError(ValueError):
    """The user's inputs cannot be used for this task; the message is meant for the user."""


@dataclass(frozen=True)
class Degraded:
    """A training example's conditioning: the source x (H, W, 3 uint8) and the mask (H, W bool; True =
    pixels to generate)."""

    source: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class TaskOption:
    """An extra, string-valued option a task accepts at inference (e.g. the sides to uncrop)."""

    name: str
    description: str
    default: str


class Task(ABC):
    """A Palette task. Subclasses are registered with :func:`model.tasks.register`."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    needs_mask: ClassVar[bool] = False
    options: ClassVar[tuple[TaskOption, ...]] = ()

    @abstractmethod
    def degrade(self, target: np.ndarray, rng: np.random.Generator) -> Degraded:
        """Make a training source (and mask) from a clean (H, W, 3) uint8 target."""

    def validate(self, image: Image.Image, mask: Image.Image | None, options: Mapping[str, str]) -> None:
        """Raise :class:`TaskInputError` if the inputs cannot be used; cheap, no sampling."""
        if self.needs_mask and mask is None:
            raise TaskInputError(f"the {self.name} task needs a mask image (white = region to generate)")
        if not self.needs_mask and mask is not None:
            raise TaskInputError(f"the {self.name} task takes no mask")
        unknown = set(options) - {option.name for option in self.options}
        if unknown:
            raise TaskInputError(f"the {self.name} task has no option(s) {sorted(unknown)}")

    def option(self, options: Mapping[str, str], name: str) -> str:
        """The value of option ``name``, or its default."""
        (spec,) = [option for option in self.options if option.name == name]
        return options.get(name, spec.default)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def resize_rgb(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """High-quality resampling for photos (Lanczos; Pillow reduces by box filtering first when shrinking)."""
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def fill_unknown(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The source for masked tasks: known pixels as they are, unknown ones a flat mid-grey."""
    source = image.copy()
    source[mask] = MASK_FILL
    return source

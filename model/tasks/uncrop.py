"""Uncropping (outpainting): extend the image on one or more sides.

Along each extended axis the upload ends up as half of the canvas (Palette's 50% masks); the result is the
whole canvas at the upload's scale (:func:`model.fullres.plan.uncrop_geometry`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

from model.tasks import register
from model.tasks.base import Degraded, Task, TaskInputError, TaskOption, fill_unknown
from model.tasks.masks import SIDES, uncrop_mask

TRAINING_SIDES: tuple[tuple[str, ...], ...] = (("left",), ("right",), ("top",), ("bottom",), SIDES)


def parse_sides(value: str) -> tuple[str, ...]:
    """'all', or a comma-separated subset of left, right, top, bottom."""
    words = [word.strip().lower() for word in value.replace(" ", ",").split(",") if word.strip()]
    if words == ["all"]:
        return SIDES
    unknown = sorted(set(words) - set(SIDES))
    if unknown or not words:
        raise TaskInputError(
            f"sides must be 'all' or a comma-separated list of {', '.join(SIDES)}; got {value!r}"
        )
    return tuple(side for side in SIDES if side in words)


@register
class Uncrop(Task):
    name = "uncrop"
    title = "Uncropping"
    description = "Extend the photo beyond its borders on the chosen sides (each extended axis doubles)."
    options = (TaskOption("sides", "'all' or a comma-separated list of left, right, top, bottom", "all"),)

    def degrade(self, target: np.ndarray, rng: np.random.Generator) -> Degraded:
        sides = TRAINING_SIDES[int(rng.integers(len(TRAINING_SIDES)))]
        mask = uncrop_mask(target.shape[0], sides)
        return Degraded(source=fill_unknown(target, mask), mask=mask)

    def validate(self, image: Image.Image, mask: Image.Image | None, options: Mapping[str, str]) -> None:
        super().validate(image, mask, options)
        parse_sides(self.option(options, "sides"))

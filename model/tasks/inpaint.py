"""Inpainting: generate the masked region; every other pixel is kept exactly.

The user's mask is read at the upload's full size (:func:`binary_mask`); :mod:`model.fullres` samples the
hole at that size, coarse to fine, and keeps every pixel outside it as uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

from model.tasks import register
from model.tasks.base import Degraded, Task, TaskInputError, fill_unknown
from model.tasks.masks import MaskKind, inpainting_mask

MASK_THRESHOLD = 128


def binary_mask(mask: Image.Image) -> np.ndarray:
    """True where the mask is white (>= 128 after conversion to luminance). Transparent pixels of a mask
    with an alpha channel count as black, so a brush layer painted on transparency works as drawn."""
    if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        rgba = mask.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        mask = Image.alpha_composite(background, rgba)
    return np.asarray(mask.convert("L")) >= MASK_THRESHOLD


@register
class Inpaint(Task):
    name = "inpaint"
    title = "Inpainting"
    description = (
        "Fill the white region of the mask with plausible content; all other pixels are kept exactly."
    )
    needs_mask = True

    def __init__(self, mask_kind: MaskKind = MaskKind.MIXED) -> None:
        self.mask_kind = mask_kind

    def degrade(self, target: np.ndarray, rng: np.random.Generator) -> Degraded:
        mask = inpainting_mask(target.shape[0], rng, self.mask_kind)
        return Degraded(source=fill_unknown(target, mask), mask=mask)

    def validate(self, image: Image.Image, mask: Image.Image | None, options: Mapping[str, str]) -> None:
        super().validate(image, mask, options)
        assert mask is not None
        if mask.size != image.size:
            raise TaskInputError(
                f"the mask is {mask.size[0]}x{mask.size[1]} but the image is "
                f"{image.size[0]}x{image.size[1]}; they must be the same size"
            )
        if not binary_mask(mask).any():
            raise TaskInputError("the mask is empty: paint the region to generate in white")

"""Colorization: grayscale in, RGB out.

The source is the luminance (ITU-R 601, as JPEG's Y) replicated to three channels. Results come back at
the upload's full size with its exact luminance (:func:`with_luminance`): only the chroma comes from the
model, sampled coarse to fine by :func:`model.fullres.run.colorize_coarse_to_fine`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from model.fullres.chroma import upsample_chroma
from model.tasks import register
from model.tasks.base import Degraded, Task


def luminance(image: Image.Image) -> Image.Image:
    """Luminance of any image mode, as an 'L' image (transparent pixels over white)."""
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("L")


def resized_gray(gray: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``gray`` at ``size`` (width, height), as the network sees a photo smaller than the upload."""
    return gray.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def gray_source(gray: Image.Image) -> np.ndarray:
    return np.repeat(np.asarray(gray, dtype=np.uint8)[..., None], 3, axis=2)


# RGB = Y + chroma @ CHROMA_TO_RGB (JPEG's YCbCr); every row has zero luminance under ITU-R 601 weights.
CHROMA_TO_RGB = np.array([[0.0, -0.344136, 1.772], [1.402, -0.714136, 0.0]])


def with_luminance(color: Image.Image, gray: Image.Image) -> Image.Image:
    """``color``'s chroma, upsampled to ``gray``'s size under its guidance
    (:func:`model.fullres.chroma.upsample_chroma`), under ``gray``'s exact luminance.

    Where the combination leaves the RGB gamut, the chroma is scaled towards grey just enough to fit, instead
    of clipping channels (which would change the luminance by up to ~20 levels in saturated shadows).
    """
    chroma = upsample_chroma(color, gray)  # guided by the luminance, so colour stays within its edges
    luma = np.asarray(gray, dtype=np.float64)[..., None]
    offsets = (chroma - 128.0) @ CHROMA_TO_RGB  # (H, W, 3): what the chroma adds to each channel
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offsets > 0, (255.0 - luma) / offsets, np.where(offsets < 0, -luma / offsets, np.inf))
    scale = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return Image.fromarray(np.clip(np.rint(luma + scale * offsets), 0, 255).astype(np.uint8))


@register
class Colorize(Task):
    name = "colorize"
    title = "Colorization"
    description = "Turn a grayscale photo into a colour one; the luminance of the input is kept exactly."

    def degrade(self, target: np.ndarray, rng: np.random.Generator) -> Degraded:
        gray = Image.fromarray(target).convert("L")
        return Degraded(source=gray_source(gray), mask=np.ones(target.shape[:2], dtype=bool))

"""JPEG restoration: remove compression artefacts (quality factors 5 to 30 in training, as the paper)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from model.tasks import register
from model.tasks.base import Degraded, Task, to_rgb_array

QUALITY_RANGE = (5, 30)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return to_rgb_array(Image.open(io.BytesIO(buffer.getvalue())))


@register
class Restore(Task):
    name = "restore"
    title = "JPEG restoration"
    description = "Remove JPEG compression artefacts (blocking, ringing, colour bleeding)."

    def degrade(self, target: np.ndarray, rng: np.random.Generator) -> Degraded:
        quality = int(rng.integers(QUALITY_RANGE[0], QUALITY_RANGE[1] + 1))
        return Degraded(source=jpeg_roundtrip(target, quality), mask=np.ones(target.shape[:2], dtype=bool))

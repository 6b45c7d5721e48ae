"""The evaluation conditions: which degradation of the held-out crops each task is scored on.

Training draws degradations from wide mixes (JPEG quality 5-30, boxes and brush strokes, one to four sides);
a score over such a mix moves with the draw. The conditions pin what the targets of issue 12 name:
inpainting on the training mask mix *and* on a centred box of 16% of the image, uncropping one side by 50%,
restoration at JPEG quality 10, colorization of the luminance. Each condition's random choices (which mask,
which side) come from a generator seeded per crop, so every sampler and baseline sees the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.tasks import get_task
from model.tasks.base import Degraded, fill_unknown
from model.tasks.masks import SIDES, uncrop_mask
from model.tasks.restore import jpeg_roundtrip

Degrade = Callable[[np.ndarray, np.random.Generator], Degraded]

CENTRED_BOX_AREA = 0.16
EVAL_JPEG_QUALITY = 10


@dataclass(frozen=True)
class Condition:
    """One table of the report: a task scored on one kind of degradation."""

    key: str  # the report's key and grid file name, e.g. "inpaint-box16"
    task: str
    title: str
    degrade: Degrade


def centred_box(target: np.ndarray, rng: np.random.Generator) -> Degraded:
    """A centred square hole of CENTRED_BOX_AREA of the image (a 40% side)."""
    size = target.shape[0]
    side = round(size * CENTRED_BOX_AREA**0.5)
    start = (size - side) // 2
    mask = np.zeros(target.shape[:2], dtype=bool)
    mask[start : start + side, start : start + side] = True
    return Degraded(source=fill_unknown(target, mask), mask=mask)


def one_side_half(target: np.ndarray, rng: np.random.Generator) -> Degraded:
    """Half the image generated beyond one side, the side drawn per crop."""
    mask = uncrop_mask(target.shape[0], (SIDES[int(rng.integers(len(SIDES)))],))
    return Degraded(source=fill_unknown(target, mask), mask=mask)


def jpeg_quality_10(target: np.ndarray, rng: np.random.Generator) -> Degraded:
    return Degraded(
        source=jpeg_roundtrip(target, EVAL_JPEG_QUALITY), mask=np.ones(target.shape[:2], dtype=bool)
    )


def _training_mix(task: str) -> Degrade:
    return get_task(task).degrade


def conditions_for(task: str) -> tuple[Condition, ...]:
    """The conditions a task is scored on; a task added later is scored on its training degradation."""
    if task == "inpaint":
        return (
            Condition("inpaint", task, "training mask mix", _training_mix(task)),
            Condition("inpaint-box16", task, "centred box, 16% of the image", centred_box),
        )
    if task == "uncrop":
        return (Condition("uncrop-side50", task, "one side, 50%", one_side_half),)
    if task == "restore":
        return (Condition("restore-q10", task, f"JPEG quality {EVAL_JPEG_QUALITY}", jpeg_quality_10),)
    return (Condition(task, task, "training degradation", _training_mix(task)),)

"""Paired differences between two rows of one evaluation.

Every row of a task's table is scored on the same inputs (crops, masks, JPEG qualities, seeds), so the
difference taken input by input cancels how hard each input is. Its standard error is far smaller than
either row's own spread: with 68 inputs, a perceptual distance of 0.352 against 0.340 can be noise or a
clear loss, and only the paired standard error says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The per-input numbers a row keeps for pairing (issue 12's fidelity and perceptual measures), each with
# whether its higher value is the better one.
PAIRED_MEASURES: dict[str, bool] = {"psnr": True, "perceptual": False}


@dataclass(frozen=True)
class PairedDifference:
    """mean(a_i - b_i) over the inputs, and its standard error (None with a single input)."""

    mean: float
    standard_error: float | None
    inputs: int


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """The difference of two rows' per-input values, ``a`` minus ``b``, in input order."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired rows need the same nonzero number of inputs, got {len(a)} and {len(b)}")
    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    error = float(differences.std(ddof=1)) / math.sqrt(len(differences)) if len(differences) > 1 else None
    return PairedDifference(mean=float(differences.mean()), standard_error=error, inputs=len(differences))

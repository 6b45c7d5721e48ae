"""Classical baselines, run on exactly the inputs the model gets, so the report shows what diffusion buys.

Inpainting and uncropping: OpenCV's Telea (fast marching) and Navier-Stokes inpainting, which propagate
the known border inwards and smear over large holes, and each of the two fills smoothed towards the hole's
interior (:func:`model.tasks.prior.smoothed_fill`, the residual models' priors).
Colorization: the grayscale input itself (PSNR/SSIM reward it more than one expects, which is why the
paper prefers perceptual measures). JPEG restoration: the compressed input itself, the number any
restoration has to beat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from model.config import Prior
from model.tasks.prior import classical_prior, opencv_fill


@dataclass(frozen=True)
class Baseline:
    name: str
    run: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (source uint8 HxWx3, mask bool HxW) -> output


def _opencv_inpaint(flag: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return opencv_fill(source, mask, flag)

    return run


def _classical_prior(prior: Prior) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return classical_prior(source, mask, prior)

    return run


def _identity(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return source.copy()


_INPAINTING = (
    Baseline("OpenCV Telea", _opencv_inpaint(cv2.INPAINT_TELEA)),
    Baseline("OpenCV Navier-Stokes", _opencv_inpaint(cv2.INPAINT_NS)),
    # The residual models' priors: what a model that outputs zero returns.
    Baseline("Telea, smoothed", _classical_prior(Prior.SMOOTHED_TELEA)),
    Baseline("Navier-Stokes, smoothed", _classical_prior(Prior.SMOOTHED_NAVIER_STOKES)),
)
BASELINES: dict[str, tuple[Baseline, ...]] = {
    "inpaint": _INPAINTING,
    "uncrop": _INPAINTING,
    "colorize": (Baseline("grayscale input", _identity),),
    "restore": (Baseline("JPEG input", _identity),),
}


def baselines_for(task: str) -> tuple[Baseline, ...]:
    """The baselines for ``task``; none for a task added later without one."""
    return BASELINES.get(task, ())

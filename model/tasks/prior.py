"""The classical estimate each task's residual model refines (predict-and-refine, Whang et al. 2022).

A model with ``target: residual`` generates y_0 - prior instead of y_0, and sees the prior as its source:
a network that outputs zero already reproduces the classical answer, so training can only add to it.
The prior is task-agnostic, a function of the conditioning alone:

- every pixel generated (restoration, colorization): the source itself, i.e. the JPEG or the grayscale
  input, the numbers any restoration or colorization has to beat;
- some pixels known (inpainting, uncropping): the known pixels, and OpenCV's Telea fast-marching fill of
  the rest, which continues the surrounding colours smoothly into the hole.

Known pixels are copied exactly, so their residual is exactly zero.
"""

from __future__ import annotations

import cv2
import numpy as np

INPAINT_RADIUS = 3  # pixels of known neighbourhood each filled pixel looks at (OpenCV's usual value)


def opencv_fill(source: np.ndarray, mask: np.ndarray, method: int = cv2.INPAINT_TELEA) -> np.ndarray:
    """``source`` (H, W, 3 uint8) with its ``mask`` pixels (H, W bool, True = unknown) filled by OpenCV's
    inpainting; cv2.inpaint treats channels alike, so RGB goes in as is and only masked pixels change."""
    filled: np.ndarray = cv2.inpaint(source, mask.astype(np.uint8) * 255, INPAINT_RADIUS, method)
    return filled


def classical_prior(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The classical estimate of the target for the conditioning (``source``, ``mask``), (H, W, 3) uint8."""
    if mask.all():
        return source.copy()
    return opencv_fill(source, mask)

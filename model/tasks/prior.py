"""The classical estimate each task's residual model refines (predict-and-refine, Whang et al. 2022).

A model with ``target: residual`` generates y_0 - prior instead of y_0, and sees the prior as its source:
a network that outputs zero already reproduces the classical answer, so training can only add to it.
The prior is task-agnostic, a function of the conditioning alone:

- every pixel generated (restoration, colorization): the source itself, i.e. the JPEG or the grayscale
  input, the numbers any restoration or colorization has to beat;
- some pixels known (inpainting, uncropping): the known pixels, and a fill of the rest that continues the
  surrounding colours into the hole: OpenCV's Telea fast marching (``telea``), or that fill smoothed
  towards the hole's interior (``smoothed_telea``), or the same with OpenCV's Navier-Stokes fill
  (``smoothed_navier_stokes``). Fast marching copies each unknown pixel from its nearest known ones, so a
  square hole fills as four triangles meeting on its diagonals, a visible X that a refiner trained on it
  kept; blending the fill, deeper into the hole, towards a blur of itself keeps the colours at the hole's
  edge and removes the creases (and scored better than Telea and Navier-Stokes as a baseline on training
  photos: model/weights/README.md). On held-out photos Navier-Stokes' fill of the training mask mix has
  the lower perceptual distance of the two, and so has a model refining its smoothed fill (model card).

Known pixels are copied exactly, so their residual is exactly zero.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.config import Prior

INPAINT_RADIUS = 3  # pixels of known neighbourhood each filled pixel looks at (OpenCV's usual value)
# The smoothed fill's blur, in units of the hole's depth (the largest distance from an unknown pixel to a
# known one), so that it looks the same at any resolution; chosen on training photos (model card).
SMOOTHING_SIGMA = 0.35
DIRECT_BLUR_SIGMA = 8.0  # above this, blur a downscaled copy: the same smoothing, far fewer operations


def opencv_fill(source: np.ndarray, mask: np.ndarray, method: int = cv2.INPAINT_TELEA) -> np.ndarray:
    """``source`` (H, W, 3 uint8) with its ``mask`` pixels (H, W bool, True = unknown) filled by OpenCV's
    inpainting; cv2.inpaint treats channels alike, so RGB goes in as is and only masked pixels change."""
    filled: np.ndarray = cv2.inpaint(source, mask.astype(np.uint8) * 255, INPAINT_RADIUS, method)
    return filled


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` (H, W, C float32) blurred by a Gaussian of ``sigma`` pixels; wide blurs run on a copy
    downscaled to keep ``DIRECT_BLUR_SIGMA``, then upscaled (a full-resolution uncrop's hole is hundreds of
    pixels deep)."""
    if sigma <= DIRECT_BLUR_SIGMA:
        return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma))
    height, width = image.shape[:2]
    factor = sigma / DIRECT_BLUR_SIGMA
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), DIRECT_BLUR_SIGMA)
    return np.asarray(cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR))


def hole_depth(mask: np.ndarray) -> np.ndarray:
    """(H, W) float32: each unknown pixel's (``mask`` True) Euclidean distance to the nearest known one, 0 at
    known pixels; +inf everywhere when no pixel is known."""
    if mask.all():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    depth: np.ndarray = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return depth


def smoothed_fill(source: np.ndarray, mask: np.ndarray, method: int = cv2.INPAINT_TELEA) -> np.ndarray:
    """OpenCV's fill of ``mask`` (Telea's by default), blended towards a blur of itself in proportion to
    each pixel's depth in the hole (its distance to the nearest known pixel over the deepest one's), known
    pixels unchanged."""
    filled = opencv_fill(source, mask, method).astype(np.float32)
    depth = hole_depth(mask)
    deepest = float(depth.max())
    blurred = gaussian_blur(filled, max(0.5, SMOOTHING_SIGMA * deepest))
    weight = (depth / deepest)[..., None]
    smoothed = np.clip(np.rint(filled + weight * (blurred - filled)), 0, 255).astype(np.uint8)
    return np.where(mask[..., None], smoothed, source)


def classical_prior(source: np.ndarray, mask: np.ndarray, prior: Prior = Prior.TELEA) -> np.ndarray:
    """The classical estimate of the target for the conditioning (``source``, ``mask``), (H, W, 3) uint8.
    It reads only the known pixels, so the prior of a prior is itself."""
    if mask.all() or not mask.any():  # nothing to fill from, or nothing to fill
        return source.copy()
    if prior is Prior.SMOOTHED_TELEA:
        return smoothed_fill(source, mask)
    if prior is Prior.SMOOTHED_NAVIER_STOKES:
        return smoothed_fill(source, mask, cv2.INPAINT_NS)
    return opencv_fill(source, mask)

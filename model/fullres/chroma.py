"""Colour upsampled under the guidance of the luminance: colorization answers at the upload's size with
its exact luminance, and the model's low-resolution chroma must not bleed across the photo's edges.

The chroma (Cb, Cr) of the sample is resized to the photo's size (bicubic), then passed through a guided
filter (He, Sun and Tang, 2010) whose guide is the photo's own luminance: within each window the output
chroma is an affine function of the luminance, so a chroma edge lands where the luminance has its edge,
and flat regions keep the model's colour. numpy and OpenCV's box filter only (no torch).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

EPSILON = 1e-3  # regularisation on luminance in [0, 1]: edges with a contrast above ~0.03 guide the chroma
# The smallest window (radius 2: 5x5), also where the chroma is not enlarged: the model's chroma speckles from
# pixel to pixel, which the guided filter averages out within the luminance's edges. At the model's own
# resolution (64 px, no enlargement), on 40 training photos at DDIM-1, radius 2 lowered colorization's
# perceptual distance from 0.390 to 0.352 and its FD from 135.8 to 112.6 (radius 1: 0.359 and 117.7;
# 3 and 4: within 0.004 of radius 2), PSNR 21.18 -> 21.21.
MIN_RADIUS = 2


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    result: np.ndarray = cv2.boxFilter(
        image, cv2.CV_64F, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT
    )
    return result


def guided_filter(guide: np.ndarray, image: np.ndarray, radius: int, epsilon: float = EPSILON) -> np.ndarray:
    """He et al.'s guided filter of ``image`` (H, W, C float) by the single-channel ``guide`` (H, W float)."""
    mean_guide = _box(guide, radius)
    variance = _box(guide * guide, radius) - mean_guide**2
    out = np.empty_like(image, dtype=np.float64)
    for channel in range(image.shape[2]):
        values = image[..., channel]
        mean_values = _box(values, radius)
        covariance = _box(guide * values, radius) - mean_guide * mean_values
        a = covariance / (variance + epsilon)
        b = mean_values - a * mean_guide
        out[..., channel] = _box(a, radius) * guide + _box(b, radius)
    return out


def upsample_chroma(color: Image.Image, gray: Image.Image) -> np.ndarray:
    """The chroma (Cb, Cr) of ``color`` at ``gray``'s size, (H, W, 2) float64 in YCbCr's 0..255 range:
    resized (bicubic), then guided by ``gray`` over a window of radius ~ the enlargement factor, and at
    least :data:`MIN_RADIUS`."""
    chroma = np.asarray(color.convert("YCbCr").resize(gray.size, Image.Resampling.BICUBIC), dtype=np.float64)
    chroma = chroma[..., 1:]
    factor = max(gray.width / color.width, gray.height / color.height)
    radius = max(MIN_RADIUS, round(factor))
    guide = np.asarray(gray, dtype=np.float64) / 255.0
    return guided_filter(guide, chroma, radius)

"""What the diffusion generates, and how it maps to and from the image the user gets.

With ``Target.IMAGE`` the diffused variable is the clean image y_0 (Palette). With ``Target.RESIDUAL`` it is
y_0 - source, where the source the network is conditioned on is the task's classical prior
(:mod:`model.tasks.prior`): the JPEG, the grayscale input, or an OpenCV fill of the hole. Known pixels of the
prior are the known pixels of y_0, so their residual is exactly zero and the samplers keep them at zero.

The data range clip of a y_0 estimate is a clip of the image: for a residual d, clamp(source + d) - source.
"""

from __future__ import annotations

from torch import Tensor

from model.config import Target


def offset(source: Tensor, target: Target) -> Tensor:
    """What is added to the diffused variable to make the image: 0 for images, the prior for residuals."""
    return source if target is Target.RESIDUAL else source.new_zeros(())


def to_diffused(y0: Tensor, source: Tensor, target: Target) -> Tensor:
    return y0 - offset(source, target)


def to_image(diffused: Tensor, source: Tensor, target: Target) -> Tensor:
    return (diffused + offset(source, target)).clamp(-1.0, 1.0)


def clip_estimate(estimate: Tensor, source: Tensor, target: Target) -> Tensor:
    """Clamp a y_0 estimate of the diffused variable so the image it stands for lies in [-1, 1]."""
    shift = offset(source, target)
    return (estimate + shift).clamp(-1.0, 1.0) - shift


def known_values(source: Tensor, target: Target) -> Tensor:
    """The diffused variable's value at known pixels: the source's pixels for images, 0 for residuals."""
    return source - offset(source, target)

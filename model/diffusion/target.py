"""What the diffusion generates, and how it maps to and from the image the user gets.

With ``Target.IMAGE`` the diffused variable is the clean image y_0 (Palette). With ``Target.RESIDUAL`` it is
y_0 - source, where the source the network is conditioned on is the task's classical prior
(:mod:`model.tasks.prior`): the JPEG, the grayscale input, or an OpenCV fill of the hole. Known pixels of the
prior are the known pixels of y_0, so their residual is exactly zero and the samplers keep them at zero.

The data range clip of a y_0 estimate is a clip of the image: for a residual d, clamp(source + d) - source.

A finished residual sample may fade in from the edge of the hole (``residual_taper``): the classical fill
is right next to known pixels and the network's correction is needed deeper in. The bundled network's
correction drew faint outlines of the hole in smooth regions (a seam the perceptual distance punished:
the training mask mix scored 0.021 worse than its own prior on training photos); fading it in over 8
pixels removed them and made the fill beat OpenCV's on held-out photos (model/weights/README.md).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from model.config import DiffusionConfig, Target
from model.tasks.prior import hole_depth


def offset(source: Tensor, target: Target) -> Tensor:
    """What is added to the diffused variable to make the image: 0 for images, the prior for residuals."""
    return source if target is Target.RESIDUAL else source.new_zeros(())


def to_diffused(y0: Tensor, source: Tensor, target: Target) -> Tensor:
    return y0 - offset(source, target)


def to_image(diffused: Tensor, source: Tensor, target: Target) -> Tensor:
    return (diffused + offset(source, target)).clamp(-1.0, 1.0)


def edge_fade(mask: Tensor, width: float) -> Tensor:
    """(B, 1, H, W) weights in [0, 1] on ``mask``'s device: each pixel to generate's distance to the nearest
    known pixel over ``width``, capped at 1; 1 everywhere when no pixel is known, 0 at known pixels."""
    generate = mask.detach().cpu().numpy()[:, 0] > 0.5
    depth = np.stack([hole_depth(example) for example in generate])
    fade = np.minimum(depth / width, 1.0).astype(np.float32)
    return torch.from_numpy(fade)[:, None].to(mask.device)


def finished_image(diffused: Tensor, source: Tensor, mask: Tensor, diffusion: DiffusionConfig) -> Tensor:
    """The image a finished sample of the diffused variable stands for, with a residual model's taper."""
    if diffusion.target is Target.RESIDUAL and diffusion.residual_taper > 0:
        diffused = diffused * edge_fade(mask, diffusion.residual_taper).to(diffused.dtype)
    return to_image(diffused, source, diffusion.target)


def clip_estimate(estimate: Tensor, source: Tensor, target: Target) -> Tensor:
    """Clamp a y_0 estimate of the diffused variable so the image it stands for lies in [-1, 1]."""
    shift = offset(source, target)
    return (estimate + shift).clamp(-1.0, 1.0) - shift


def known_values(source: Tensor, target: Target) -> Tensor:
    """The diffused variable's value at known pixels: the source's pixels for images, 0 for residuals."""
    return source - offset(source, target)

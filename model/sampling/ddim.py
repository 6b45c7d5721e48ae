"""DDIM (Song et al. 2021) over continuous noise levels; eta = 0 is deterministic, eta = 1 matches the
ancestral sampler's variance."""

from __future__ import annotations

import torch
from torch import Tensor

from model.sampling.denoiser import StepCoefficients


def ddim_coefficients(gammas: Tensor, eta: float = 0.0) -> StepCoefficients:
    """Each step from g to g' is
        y' = sqrt(g') d + sqrt(1 - g' - s^2) eps + s z,   s = eta sqrt((1 - g') / (1 - g) (1 - g / g')),
    with eps = (y - sqrt(g) d) / sqrt(1 - g) the noise the estimate d implies, i.e. c_y = sqrt(1 - g' -
    s^2) / sqrt(1 - g) and c_d = sqrt(g') - c_y sqrt(g). ``gammas``: (S+1,) or (B, S+1), float64."""
    g, g_next = gammas[..., :-1].double(), gammas[..., 1:].double()
    s = eta * ((1.0 - g_next) / (1.0 - g) * (1.0 - g / g_next)).clamp(min=0).sqrt()
    direction = (1.0 - g_next - s**2).clamp(min=0).sqrt()
    c_y = direction / (1.0 - g).sqrt()
    return StepCoefficients(c_y=c_y, c_d=g_next.sqrt() - c_y * g.sqrt(), c_p=torch.zeros_like(g), s=s)

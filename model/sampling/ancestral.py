"""Palette's ancestral sampler: y_{t-1} ~ q(y_{t-1} | y_0 = f(y_t), y_t), 1000 steps in the paper.

With fewer levels than the schedule has (respacing, Nichol & Dhariwal 2021) each step goes between two
non-adjacent levels, with alpha = gamma_t / gamma_prev; with all of them it is exactly the paper's chain.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.diffusion.process import posterior
from model.sampling.denoiser import StepCoefficients


def ancestral_coefficients(gammas: Tensor) -> StepCoefficients:
    """Each step draws y_next from the posterior q(y_next | y_0 = d, y_t) between its two levels
    (:func:`model.diffusion.process.posterior`): mean coefficients, and the standard deviation as the noise
    scale; the last step returns the posterior mean itself. ``gammas``: (S+1,) or (B, S+1), float64."""
    step = posterior(gammas[..., :-1], gammas[..., 1:])
    s = step.variance.sqrt()
    s[..., -1] = 0.0
    return StepCoefficients(c_y=step.mean_yt, c_d=step.mean_y0, c_p=torch.zeros_like(s), s=s)

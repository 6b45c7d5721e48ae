"""DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver of the probability-flow ODE in the
data-prediction form. Deterministic; reaches DDIM-50 quality in far fewer network evaluations.

With alpha = sqrt(gamma), sigma = sqrt(1 - gamma) and lambda = log(alpha / sigma), one step from lambda to
lambda' = lambda + h is
    y' = (sigma'/sigma) y - alpha' (e^{-h} - 1) D,
where D is the y_0 prediction, extrapolated with the previous step's as
    D = (1 + 1/(2r)) d - 1/(2r) d_prev,  r = h_prev / h.
The first step and the last (to the clean image, where lambda' is infinite) are first order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.diffusion.schedule import half_log_snr
from model.sampling.denoiser import StepCoefficients


def dpmpp_2m_coefficients(gammas: Tensor) -> StepCoefficients:
    """c_y = sigma'/sigma, c_d = -alpha' expm1(-h) (1 + 1/(2r)), c_p = alpha' expm1(-h) / (2r), with
    1/(2r) = 0 on the first step; the last step returns d itself (c_d = 1). ``gammas``: (S+1,) or
    (B, S+1), float64."""
    g_all, g_next_all = gammas[..., :-1].double(), gammas[..., 1:].double()
    zeros = torch.zeros_like(g_all)
    c_y, c_d, c_p = zeros.clone(), torch.ones_like(g_all), zeros.clone()
    g, g_next = g_all[..., :-1], g_next_all[..., :-1]  # every step but the last
    h = half_log_snr(g_next) - half_log_snr(g)
    base = -g_next.sqrt() * torch.expm1(-h)
    half_inverse_r = torch.zeros_like(h)
    half_inverse_r[..., 1:] = h[..., 1:] / (2.0 * h[..., :-1])
    c_y[..., :-1] = ((1.0 - g_next) / (1.0 - g)).sqrt()
    c_d[..., :-1] = base * (1.0 + half_inverse_r)
    c_p[..., :-1] = -base * half_inverse_r
    return StepCoefficients(c_y=c_y, c_d=c_d, c_p=c_p, s=zeros)

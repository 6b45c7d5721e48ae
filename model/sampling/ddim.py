"""DDIM (Song et al. 2021) over continuous noise levels; eta = 0 is deterministic, eta = 1 matches the
ancestral sampler's variance."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from model.diffusion.process import eps_from_y0, expand
from model.sampling.denoiser import (
    Callback,
    Denoiser,
    KnownPixels,
    NoiseSampler,
    keep_known,
    per_example,
)


@torch.no_grad()
def sample_ddim(
    denoiser: Denoiser,
    y: Tensor,
    gammas: Tensor,
    *,
    eta: float = 0.0,
    noise: NoiseSampler | None = None,
    extra_args: dict[str, Any] | None = None,
    known: KnownPixels | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """y_prev = sqrt(g_prev) y0 + sqrt(1 - g_prev - s^2) eps + s z,
    s = eta sqrt((1 - g_prev) / (1 - g) (1 - g / g_prev))."""
    if eta > 0 and noise is None:
        raise ValueError("DDIM with eta > 0 needs a noise sampler")
    extra_args = extra_args or {}
    levels = per_example(gammas, y.shape[0], y.device)
    total = levels.shape[1] - 1
    y = keep_known(y, known)
    for i in range(total):
        gamma, gamma_prev = levels[:, i], levels[:, i + 1]
        denoised = denoiser(y, gamma, **extra_args)
        eps = eps_from_y0(y, gamma, denoised)
        sigma = eta * ((1.0 - gamma_prev) / (1.0 - gamma) * (1.0 - gamma / gamma_prev)).clamp(min=0).sqrt()
        direction = (1.0 - gamma_prev - sigma**2).clamp(min=0).sqrt()
        y_next = expand(gamma_prev.sqrt(), y) * denoised + expand(direction, y) * eps
        if eta > 0 and noise is not None:
            y_next = y_next + expand(sigma, y) * noise(y)
        y = keep_known(y_next, known)
        if callback is not None:
            callback({"step": i + 1, "total": total, "y": y, "denoised": denoised})
    return y

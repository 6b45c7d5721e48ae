"""Every sampler as one fused update over a precomputed table of per-step coefficients.

DDPM, DDIM and DPM-Solver++(2M) all move from y_t to the next level by a linear combination
    d      = clamp(k_y y + k_o f(y, gamma), -1, 1)             (the y_0 prediction)
    y_next = c_y y + c_d d + c_p d_prev + s z                 (z ~ N(0, I), d_prev: last step's d)
whose coefficients depend only on the step, never on the data. Forming them once, in float64 on the host,
and uploading them as one (steps, 7) float32 table leaves each step a single network call and one
elementwise update: no per-step scalar arithmetic, nothing for the host to wait on, and the same code for
every sampler, which is what lets a whole step be one CUDA graph. The samplers in :mod:`model.sampling`
remain the readable reference; tests hold this table to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from model.config import DiffusionConfig, Prediction
from model.diffusion.schedule import half_log_snr
from model.sampling import SamplerKind, SamplerSettings, sampler_levels

# Columns of a row of the table.
GAMMA, K_Y, K_O, C_Y, C_D, C_P, S = range(7)
ROW_WIDTH = 7


@dataclass(frozen=True)
class StepTable:
    rows: Tensor  # (steps, ROW_WIDTH) float32 on the sampling device
    noisy: tuple[bool, ...]  # host-side: whether step i adds fresh noise (s != 0)

    @property
    def steps(self) -> int:
        return len(self.noisy)


def denoise_coefficients(gamma: Tensor, prediction: Prediction) -> tuple[Tensor, Tensor]:
    """(k_y, k_o) with y_0 = k_y y_t + k_o output, for the network's prediction type (float64)."""
    if prediction is Prediction.EPS:  # y_0 = (y_t - sqrt(1 - g) eps) / sqrt(g)
        return 1.0 / gamma.sqrt(), -(1.0 - gamma).sqrt() / gamma.sqrt()
    if prediction is Prediction.V:  # y_0 = sqrt(g) y_t - sqrt(1 - g) v
        return gamma.sqrt(), -(1.0 - gamma).sqrt()
    return torch.zeros_like(gamma), torch.ones_like(gamma)


def update_coefficients(settings: SamplerSettings, g: Tensor, g_next: Tensor) -> tuple[Tensor, ...]:
    """(c_y, c_d, c_p, s) per step between the levels ``g`` and ``g_next`` (float64, each (steps,))."""
    zeros = torch.zeros_like(g)
    if settings.kind is SamplerKind.DDPM:  # the posterior q(y_next | y_0 = d, y_t); no noise on the last step
        alpha = g / g_next
        c_y = alpha.sqrt() * (1.0 - g_next) / (1.0 - g)
        c_d = g_next.sqrt() * (1.0 - alpha) / (1.0 - g)
        s = ((1.0 - g_next) * (1.0 - alpha) / (1.0 - g)).sqrt()
        s[-1] = 0.0
        return c_y, c_d, zeros, s
    if settings.kind is SamplerKind.DDIM:
        # y_next = sqrt(g') d + dir eps + s z with eps = (y - sqrt(g) d) / sqrt(1 - g)
        s = settings.eta * ((1.0 - g_next) / (1.0 - g) * (1.0 - g / g_next)).clamp(min=0).sqrt()
        direction = (1.0 - g_next - s**2).clamp(min=0).sqrt()
        c_y = direction / (1.0 - g).sqrt()
        return c_y, g_next.sqrt() - c_y * g.sqrt(), zeros, s
    return _dpmpp_2m_coefficients(g, g_next)


def _dpmpp_2m_coefficients(g: Tensor, g_next: Tensor) -> tuple[Tensor, ...]:
    """y' = (sigma'/sigma) y - alpha' expm1(-h) D, D = (1 + 1/2r) d - (1/2r) d_prev, r = h_prev / h;
    first order on the first step, and the last step (to lambda' = inf) returns d itself."""
    zeros = torch.zeros_like(g)
    c_y, c_d, c_p = zeros.clone(), torch.ones_like(g), zeros.clone()
    inner = slice(0, len(g) - 1)
    h = half_log_snr(g_next[inner]) - half_log_snr(g[inner])
    c_y[inner] = ((1.0 - g_next[inner]) / (1.0 - g[inner])).sqrt()
    base = -g_next[inner].sqrt() * torch.expm1(-h)
    half_inverse_r = torch.zeros_like(h)
    half_inverse_r[1:] = h[1:] / (2.0 * h[:-1])
    c_d[inner] = base * (1.0 + half_inverse_r)
    c_p[inner] = -base * half_inverse_r
    return c_y, c_d, c_p, zeros


def step_table(
    settings: SamplerSettings,
    diffusion: DiffusionConfig,
    device: torch.device | str = "cpu",
    start: float = 1.0,
) -> StepTable:
    """The table for ``settings`` on the levels :func:`model.sampling.sampler_levels` gives (the last
    ``start`` of them: a partially noised start)."""
    levels = sampler_levels(settings, diffusion, start)
    g, g_next = levels[:-1], levels[1:]
    k_y, k_o = denoise_coefficients(g, diffusion.prediction)
    c_y, c_d, c_p, s = update_coefficients(settings, g, g_next)
    rows = torch.stack([g, k_y, k_o, c_y, c_d, c_p, s], dim=1)
    return StepTable(rows=rows.to(device=device, dtype=torch.float32), noisy=tuple((s != 0).tolist()))

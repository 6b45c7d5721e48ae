"""Discrete noise schedules, in float64.

Notation follows the Palette paper: alpha_t = 1 - beta_t and gamma_t = prod_{s<=t} alpha_s, so that
q(y_t | y_0) = N(sqrt(gamma_t) y_0, (1 - gamma_t) I). gamma_0 = 1 is the clean image.
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor

from model.config import ScheduleConfig, ScheduleKind


class Spacing(enum.StrEnum):
    """Which levels a sampler with fewer steps than the schedule visits."""

    SCHEDULE = "schedule"  # evenly spaced schedule indices (respacing; exact for steps == num_steps)
    LOG_SNR = "log_snr"  # evenly spaced in lambda = log(sqrt(g) / sqrt(1 - g)), within the schedule's range


def betas(schedule: ScheduleConfig) -> Tensor:
    """beta_1 .. beta_N as float64."""
    n = schedule.num_steps
    if n < 1:
        raise ValueError("a schedule needs at least one step")
    if schedule.kind is ScheduleKind.LINEAR:
        return torch.linspace(schedule.beta_start, schedule.beta_end, n, dtype=torch.float64)
    if schedule.kind in (ScheduleKind.COSINE, ScheduleKind.KARRAS):
        levels = gammas(schedule)
        return 1.0 - levels / torch.cat([torch.ones(1, dtype=torch.float64), levels[:-1]])
    raise ValueError(f"unknown schedule kind {schedule.kind!r}")


def gammas(schedule: ScheduleConfig) -> Tensor:
    """gamma_1 .. gamma_N (decreasing) as float64."""
    if schedule.kind is ScheduleKind.COSINE:
        # gamma(t) = f(t)/f(0), f(t) = cos^2((t/N + s)/(1 + s) * pi/2); betas clipped at 0.999 as in the paper
        n, s = schedule.num_steps, schedule.cosine_offset
        t = torch.arange(n + 1, dtype=torch.float64) / n
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        beta = (1.0 - f[1:] / f[:-1]).clamp(max=0.999)
        return torch.cumprod(1.0 - beta, dim=0)
    if schedule.kind is ScheduleKind.KARRAS:
        return gamma_from_sigma(karras_sigmas(schedule))
    return torch.cumprod(1.0 - betas(schedule), dim=0)


def karras_sigmas(schedule: ScheduleConfig) -> Tensor:
    """sigma_1 < ... < sigma_N from sigma_min to sigma_max, evenly spaced in sigma^(1/rho) (EDM eq. 5):
    rho = 7 spends most levels at low noise, where the detail of the image is decided."""
    n, rho = schedule.num_steps, schedule.rho
    if not 0 < schedule.sigma_min < schedule.sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {schedule.sigma_min}, {schedule.sigma_max}")
    ramp = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    low, high = schedule.sigma_min ** (1.0 / rho), schedule.sigma_max ** (1.0 / rho)
    return (low + ramp * (high - low)) ** rho


def sigma_from_gamma(gamma: Tensor) -> Tensor:
    """The variance-exploding noise level of a variance-preserving one: y_t / sqrt(g) = y_0 + sigma eps with
    sigma = sqrt((1 - g) / g). Float64, since g reaches 1e-20 at the noisy end."""
    gamma = gamma.double()
    return ((1.0 - gamma) / gamma).sqrt()


def gamma_from_sigma(sigma: Tensor) -> Tensor:
    """The inverse of :func:`sigma_from_gamma`: g = 1 / (1 + sigma^2)."""
    return 1.0 / (1.0 + sigma.double() ** 2)


def half_log_snr(gamma: Tensor) -> Tensor:
    """lambda = log(sqrt(gamma) / sqrt(1 - gamma)), in float64."""
    gamma = gamma.double()
    return 0.5 * (torch.log(gamma) - torch.log1p(-gamma))


def sampling_gammas(
    schedule: ScheduleConfig,
    steps: int,
    spacing: Spacing = Spacing.SCHEDULE,
    *,
    noisiest: float = 0.0,
    start: float = 1.0,
) -> Tensor:
    """The gamma sequence a sampler walks with ``steps`` network evaluations, noisiest first.

    Returns ``steps + 1`` float64 values: ``steps`` levels between the schedule's noisiest and cleanest,
    then gamma_0 = 1, the clean image. With ``Spacing.SCHEDULE`` and ``steps == num_steps`` this is exactly
    the schedule. ``Spacing.LOG_SNR`` suits few-step ODE solvers: Palette's linear inference schedule spends
    most of its indices on levels that are pure noise for all practical purposes; it starts at the schedule's
    noisiest level or at ``noisiest``, whichever is cleaner (pass the training schedule's noisiest level, so
    that no step is spent where the network was never trained).

    ``start`` < 1 walks only the cleanest ``start`` of the schedule's levels (a partially noised start,
    SDEdit's t0), respaced into all ``steps`` steps: its first level depends on ``start`` alone, not on
    how many steps are taken, so one step from a noised image is as meaningful as ten. A request for more
    steps than that part has levels (any count the schedule allows) walks levels between them.
    """
    if not 0.0 < start <= 1.0:
        raise ValueError(f"start must be in (0, 1], got {start}")
    full = gammas(schedule)
    n = max(1, round(schedule.num_steps * start))  # the levels the sampler may visit: full[:n]
    if not 1 <= steps <= schedule.num_steps:
        raise ValueError(f"steps must be between 1 and {schedule.num_steps} for this schedule, got {steps}")
    if spacing is Spacing.LOG_SNR:
        noisiest_level = full[n - 1].item() if n < schedule.num_steps else max(full[-1].item(), noisiest)
        first = half_log_snr(torch.tensor(noisiest_level, dtype=torch.float64)).item()
        lambdas = torch.linspace(first, half_log_snr(full[0]).item(), steps, dtype=torch.float64)
        levels = torch.sigmoid(2.0 * lambdas)
    else:
        positions = torch.linspace(n - 1, 0, steps, dtype=torch.float64)
        if steps <= n:  # respacing: levels of the schedule itself
            levels = full[positions.round().long()]
        else:  # more steps than a partial start spans: the levels between, evenly in log-SNR
            low = positions.floor().long()
            high = (low + 1).clamp(max=n - 1)
            lambdas = half_log_snr(full)
            weight = positions - low
            levels = torch.sigmoid(2.0 * torch.lerp(lambdas[low], lambdas[high], weight))
    return torch.cat([levels, torch.ones(1, dtype=torch.float64)])

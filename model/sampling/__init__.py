"""Samplers: each one's per-step coefficients (float64, beside its equations), the one loop that walks
them over a denoiser, and the registry the service's options map onto. The fast path
(:mod:`model.runtime`) tabulates the same coefficients; this loop is the reference it is held to."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from model.config import DiffusionConfig
from model.diffusion.schedule import Spacing, gammas, sampling_gammas
from model.diffusion.target import finished_image, known_values, to_diffused
from model.sampler_settings import SamplerKind, SamplerSettings
from model.sampling.ancestral import ancestral_coefficients
from model.sampling.ddim import ddim_coefficients
from model.sampling.denoiser import (
    Callback,
    ConditionalNetwork,
    Denoiser,
    KnownPixels,
    NoiseSampler,
    PerExampleNoise,
    StepCoefficients,
    StepInfo,
    estimate_y0,
    linear_update,
    network_denoiser,
    run_steps,
)
from model.sampling.dpm_solver import dpmpp_2m_coefficients


def sampler_levels(settings: SamplerSettings, diffusion: DiffusionConfig, start: float = 1.0) -> Tensor:
    """The (steps + 1) noise levels the sampler walks for a model trained with ``diffusion``; with
    ``start`` < 1 all steps within the cleanest ``start`` of the schedule (a partially noised start,
    SDEdit: :func:`~model.diffusion.schedule.sampling_gammas`), which the fast path's step table and the
    reference samplers both walk."""
    # DPM-Solver++ is accurate with levels evenly spaced in log-SNR (Lu et al. 2022); the others respace the
    # schedule, which keeps DDPM with every step exactly the paper's chain.
    spacing = Spacing.LOG_SNR if settings.kind is SamplerKind.DPMPP_2M else Spacing.SCHEDULE
    noisiest_trained = gammas(diffusion.train_schedule)[-1].item()
    return sampling_gammas(
        diffusion.sample_schedule, settings.steps, spacing, noisiest=noisiest_trained, start=start
    )


def sampler_coefficients(settings: SamplerSettings, levels: Tensor) -> StepCoefficients:
    """The per-step coefficients of the sampler ``settings`` names over ``levels`` ((S+1,) or (B, S+1))."""
    if settings.kind is SamplerKind.DDPM:
        return ancestral_coefficients(levels)
    if settings.kind is SamplerKind.DDIM:
        return ddim_coefficients(levels, settings.eta)
    return dpmpp_2m_coefficients(levels)


def start_state(init: Tensor | None, noise: Tensor, gamma: Tensor | float) -> Tensor:
    """The sampler's first y: the ``noise`` itself when there is no ``init``, else the diffused variable
    ``init`` noised to the level ``gamma`` of the first step, sqrt(g) init + sqrt(1 - g) noise."""
    if init is None:
        return noise
    gamma = torch.as_tensor(gamma, dtype=torch.float64)
    return (gamma.sqrt() * init.double() + (1.0 - gamma).sqrt() * noise.double()).to(noise.dtype)


def run_sampler(
    settings: SamplerSettings,
    denoiser: Denoiser,
    y: Tensor,
    diffusion: DiffusionConfig,
    *,
    noise: NoiseSampler | None = None,
    extra_args: dict[str, Any] | None = None,
    known: KnownPixels | None = None,
    callback: Callback | None = None,
    start: float = 1.0,
) -> Tensor:
    """Run the sampler ``settings`` names, from ``y``, over :func:`sampler_levels` (from ``start``)."""
    levels = sampler_levels(settings, diffusion, start)
    coefficients = sampler_coefficients(settings, levels)
    return run_steps(
        denoiser, y, levels, coefficients, noise=noise, extra_args=extra_args, known=known, callback=callback
    )


def sample_network(
    settings: SamplerSettings,
    network: ConditionalNetwork,
    diffusion: DiffusionConfig,
    source: Tensor,
    mask: Tensor,
    noise: PerExampleNoise,
    *,
    start: float = 1.0,
    init: Tensor | None = None,
) -> Tensor:
    """Images (B, 3, H, W) in [-1, 1] from ``network`` conditioned on ``source`` (what the network sees)
    and ``mask``, with the readable reference samplers: the definition the fast path is held to. With
    ``init`` (an image, (B, 3, H, W) in [-1, 1]) sampling starts from it noised to the first level of the
    last ``start`` of the schedule, instead of from pure noise."""
    target = diffusion.target
    first = sampler_levels(settings, diffusion, start)[0]
    diffused_init = None if init is None else to_diffused(init, source, target)
    diffused = run_sampler(
        settings,
        network_denoiser(network, diffusion.prediction, target=target),
        start_state(diffused_init, noise(source), first),
        diffusion,
        noise=noise,
        extra_args={"source": source, "mask": mask},
        known=KnownPixels(values=known_values(source, target), mask=mask),
        start=start,
    )
    return finished_image(diffused, source, mask, diffusion)


__all__ = [
    "Callback",
    "ConditionalNetwork",
    "Denoiser",
    "KnownPixels",
    "NoiseSampler",
    "PerExampleNoise",
    "SamplerKind",
    "SamplerSettings",
    "StepCoefficients",
    "StepInfo",
    "ancestral_coefficients",
    "ddim_coefficients",
    "dpmpp_2m_coefficients",
    "estimate_y0",
    "linear_update",
    "network_denoiser",
    "run_sampler",
    "run_steps",
    "sample_network",
    "sampler_coefficients",
    "sampler_levels",
    "start_state",
]

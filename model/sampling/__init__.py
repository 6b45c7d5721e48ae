"""Samplers: pure functions over one denoiser interface, and a registry the service's options map onto."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from model.config import DiffusionConfig
from model.diffusion.schedule import Spacing, gammas, sampling_gammas
from model.diffusion.target import known_values, to_image
from model.sampler_settings import SamplerKind, SamplerSettings
from model.sampling.ancestral import sample_ancestral
from model.sampling.ddim import sample_ddim
from model.sampling.denoiser import (
    Callback,
    ConditionalNetwork,
    Denoiser,
    KnownPixels,
    NoiseSampler,
    PerExampleNoise,
    StepInfo,
    network_denoiser,
)
from model.sampling.dpm_solver import sample_dpmpp_2m


def sampler_levels(settings: SamplerSettings, diffusion: DiffusionConfig) -> Tensor:
    """The (steps + 1) noise levels the sampler walks for a model trained with ``diffusion``."""
    # DPM-Solver++ is accurate with levels evenly spaced in log-SNR (Lu et al. 2022); the others respace the
    # schedule, which keeps DDPM with every step exactly the paper's chain.
    spacing = Spacing.LOG_SNR if settings.kind is SamplerKind.DPMPP_2M else Spacing.SCHEDULE
    noisiest_trained = gammas(diffusion.train_schedule)[-1].item()
    return sampling_gammas(diffusion.sample_schedule, settings.steps, spacing, noisiest=noisiest_trained)


def run_sampler(
    settings: SamplerSettings,
    denoiser: Denoiser,
    y: Tensor,
    diffusion: DiffusionConfig,
    *,
    noise: NoiseSampler,
    extra_args: dict[str, Any] | None = None,
    known: KnownPixels | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Run the sampler ``settings`` names, from the noise ``y``, over :func:`sampler_levels`."""
    levels = sampler_levels(settings, diffusion)
    common: dict[str, Any] = {"extra_args": extra_args, "known": known, "callback": callback}
    if settings.kind is SamplerKind.DDPM:
        return sample_ancestral(denoiser, y, levels, noise=noise, **common)
    if settings.kind is SamplerKind.DDIM:
        return sample_ddim(denoiser, y, levels, eta=settings.eta, noise=noise, **common)
    return sample_dpmpp_2m(denoiser, y, levels, **common)


def sample_network(
    settings: SamplerSettings,
    network: ConditionalNetwork,
    diffusion: DiffusionConfig,
    source: Tensor,
    mask: Tensor,
    noise: PerExampleNoise,
) -> Tensor:
    """Images (B, 3, H, W) in [-1, 1] from ``network`` conditioned on ``source`` (what the network sees)
    and ``mask``, with the readable reference samplers: the definition the fast path is held to."""
    target = diffusion.target
    diffused = run_sampler(
        settings,
        network_denoiser(network, diffusion.prediction, target=target),
        noise(source),
        diffusion,
        noise=noise,
        extra_args={"source": source, "mask": mask},
        known=KnownPixels(values=known_values(source, target), mask=mask),
    )
    return to_image(diffused, source, target)


__all__ = [
    "Callback",
    "Denoiser",
    "KnownPixels",
    "NoiseSampler",
    "PerExampleNoise",
    "SamplerKind",
    "SamplerSettings",
    "StepInfo",
    "network_denoiser",
    "run_sampler",
    "sample_ancestral",
    "sample_ddim",
    "sample_dpmpp_2m",
    "sample_network",
    "sampler_levels",
]

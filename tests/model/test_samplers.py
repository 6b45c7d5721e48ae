"""Samplers against a data distribution whose optimal denoiser is known in closed form.

If the data are N(mu, s^2) per pixel, E[y0 | y_t] = mu + sqrt(g) s^2 / (g s^2 + 1 - g) (y_t - sqrt(g) mu).
A correct sampler driven by this exact denoiser must produce samples distributed as N(mu, s^2).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from model.config import DiffusionConfig, ScheduleConfig
from model.diffusion.process import expand
from model.diffusion.schedule import sampling_gammas
from model.sampling import (
    KnownPixels,
    PerExampleNoise,
    SamplerKind,
    SamplerSettings,
    ancestral_coefficients,
    ddim_coefficients,
    run_sampler,
    run_steps,
)

SCHEDULE = ScheduleConfig(num_steps=1000, beta_start=1e-4, beta_end=0.09)
DIFFUSION = DiffusionConfig(sample_schedule=SCHEDULE)
MU, S = 0.25, 0.5


def gaussian_denoiser(y_t: Tensor, gamma: Tensor, **_: Any) -> Tensor:
    g = gamma.double()
    gain = g.sqrt() * S**2 / (g * S**2 + 1 - g)
    return (MU + expand(gain, y_t) * (y_t - expand(g.sqrt(), y_t) * MU)).to(y_t.dtype)


def draw(settings: SamplerSettings, seeds: tuple[int, ...] = (1, 2), pixels: int = 64) -> Tensor:
    noise = PerExampleNoise(seeds, "cpu")
    y = noise(torch.empty(len(seeds), 1, pixels, pixels))
    return run_sampler(settings, gaussian_denoiser, y, DIFFUSION, noise=noise)


def std_error(settings: SamplerSettings) -> float:
    return abs(draw(settings).std().item() - S) / S


@pytest.mark.parametrize(
    "settings",
    [
        SamplerSettings(SamplerKind.DDPM, steps=1000),
        SamplerSettings(SamplerKind.DDIM, steps=1000),
        SamplerSettings(SamplerKind.DDIM, steps=1000, eta=1.0),
        SamplerSettings(SamplerKind.DPMPP_2M, steps=20),
    ],
    ids=lambda s: f"{s.kind.value}-{s.steps}-eta{s.eta}",
)
def test_sampler_reproduces_the_data_distribution(settings: SamplerSettings) -> None:
    samples = draw(settings)
    assert samples.mean().item() == pytest.approx(MU, abs=0.02)
    assert samples.std().item() == pytest.approx(S, rel=0.03)


def test_ddim_converges_as_steps_grow() -> None:
    errors = [std_error(SamplerSettings(SamplerKind.DDIM, steps=n)) for n in (50, 200, 1000)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] < 0.15


def test_ddim_with_eta_one_is_the_ancestral_sampler() -> None:
    ancestral = draw(SamplerSettings(SamplerKind.DDPM, steps=100))
    ddim = draw(SamplerSettings(SamplerKind.DDIM, steps=100, eta=1.0))
    torch.testing.assert_close(ddim, ancestral, atol=1e-4, rtol=0)


def test_dpm_solver_with_few_steps_lands_where_it_does_with_many() -> None:
    # A second-order solver of the probability-flow ODE: 20 steps end close to the converged solution.
    few = draw(SamplerSettings(SamplerKind.DPMPP_2M, steps=20), pixels=32)
    many = draw(SamplerSettings(SamplerKind.DPMPP_2M, steps=500), pixels=32)
    assert (few - many).abs().mean().item() < 0.02


class CountingNoise:
    """A noise sampler that counts its draws."""

    def __init__(self, seed: int) -> None:
        self.noise = PerExampleNoise([seed], "cpu")
        self.draws = 0

    def __call__(self, like: Tensor) -> Tensor:
        self.draws += 1
        return self.noise(like)


def test_ddim_with_eta_zero_is_deterministic_given_its_start() -> None:
    # No noise is drawn after the start, so the sample is a function of the start alone: the noise sampler
    # it is handed is never called, and another start gives another sample.
    levels = sampling_gammas(SCHEDULE, 20)
    start, other = torch.randn(2, 1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    samples = []
    for seed in (1, 2):
        noise = CountingNoise(seed)
        samples.append(run_steps(gaussian_denoiser, start, levels, ddim_coefficients(levels), noise=noise))
        assert noise.draws == 0
    assert torch.equal(samples[0], samples[1])
    assert not torch.allclose(
        run_steps(gaussian_denoiser, other, levels, ddim_coefficients(levels)), samples[0]
    )


def test_ancestral_sampler_with_other_noise_gives_other_samples() -> None:
    start = torch.zeros(1, 1, 8, 8)
    levels = sampling_gammas(SCHEDULE, 20)
    coefficients = ancestral_coefficients(levels)
    noises = [CountingNoise(1), CountingNoise(2)]
    one, two = (run_steps(gaussian_denoiser, start, levels, coefficients, noise=noise) for noise in noises)
    assert not torch.allclose(one, two)
    assert [noise.draws for noise in noises] == [19, 19]  # every step but the last, which returns the mean


@pytest.mark.parametrize("kind", list(SamplerKind))
def test_known_pixels_are_kept_exactly(kind: SamplerKind) -> None:
    values = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    noise = PerExampleNoise([1, 2], "cpu")
    out = run_sampler(
        SamplerSettings(kind, steps=10),
        gaussian_denoiser,
        noise(values),
        DIFFUSION,
        noise=noise,
        known=KnownPixels(values=values, mask=mask),
    )
    keep = (mask == 0).expand_as(values)
    assert torch.equal(out[keep], values[keep])
    assert not torch.equal(out[~keep], values[~keep])


def test_per_example_noise_depends_only_on_the_seed() -> None:
    alone = PerExampleNoise([7], "cpu")(torch.empty(1, 3, 4, 4))
    batched = PerExampleNoise([1, 7, 9], "cpu")(torch.empty(3, 3, 4, 4))
    assert torch.equal(alone[0], batched[1])


def test_per_example_noise_levels_are_accepted() -> None:
    # Two examples walking different schedules of the same length in one batch.
    levels = torch.stack([sampling_gammas(SCHEDULE, 10), sampling_gammas(ScheduleConfig(num_steps=500), 10)])
    start = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    together = run_steps(gaussian_denoiser, start, levels, ddim_coefficients(levels))
    alone = run_steps(gaussian_denoiser, start[1:], levels[1:], ddim_coefficients(levels[1:]))
    torch.testing.assert_close(together[1:], alone)


def test_callback_reports_every_step() -> None:
    steps: list[int] = []
    noise = PerExampleNoise([0], "cpu")
    run_sampler(
        SamplerSettings(SamplerKind.DDIM, steps=7),
        gaussian_denoiser,
        noise(torch.empty(1, 1, 4, 4)),
        DIFFUSION,
        noise=noise,
        callback=lambda info: steps.append(info["step"]),
    )
    assert steps == list(range(1, 8))


def test_settings_reject_eta_for_samplers_other_than_ddim() -> None:
    with pytest.raises(ValueError, match="ddim"):
        SamplerSettings(SamplerKind.DDPM, steps=10, eta=0.5)

"""The forward process, its posterior and the schedules, checked against the paper's equations."""

from __future__ import annotations

import math

import pytest
import torch

from model.config import Prediction, ScheduleConfig, ScheduleKind, Target
from model.diffusion import process
from model.diffusion.schedule import Spacing, betas, gammas, sampling_gammas
from model.sampling import estimate_y0

LINEAR = ScheduleConfig(kind=ScheduleKind.LINEAR, num_steps=1000, beta_start=1e-4, beta_end=0.09)
COSINE = ScheduleConfig(kind=ScheduleKind.COSINE, num_steps=1000)


@pytest.mark.parametrize("schedule", [LINEAR, COSINE], ids=["linear", "cosine"])
def test_closed_form_marginal_matches_iterating_the_forward_process(schedule: ScheduleConfig) -> None:
    # y_t = sqrt(alpha_t) y_{t-1} + sqrt(beta_t) eps, iterated: mean sqrt(gamma_t) y0, variance 1 - gamma_t
    y0 = torch.tensor(0.7, dtype=torch.float64)
    mean, variance = y0.clone(), torch.tensor(0.0, dtype=torch.float64)
    for t, beta in enumerate(betas(schedule)):
        mean = (1 - beta).sqrt() * mean
        variance = (1 - beta) * variance + beta
        gamma = gammas(schedule)[t]
        assert mean.item() == pytest.approx((gamma.sqrt() * y0).item(), rel=1e-9, abs=1e-15)
        assert variance.item() == pytest.approx((1 - gamma).item(), rel=1e-9)


def test_q_sample_has_the_closed_form_moments_empirically() -> None:
    generator = torch.Generator().manual_seed(0)
    y0 = torch.full((200_000,), -0.4, dtype=torch.float64)
    gamma = torch.full((1,), 0.3, dtype=torch.float64)
    y_t = process.q_sample(y0[None], gamma, torch.randn(1, 200_000, dtype=torch.float64, generator=generator))
    assert y_t.mean().item() == pytest.approx(math.sqrt(0.3) * -0.4, abs=5e-3)
    assert y_t.var().item() == pytest.approx(0.7, rel=1e-2)


def y0_from_output(y_t: torch.Tensor, gamma: torch.Tensor, output: torch.Tensor, prediction: Prediction):
    """The y_0 the samplers read from a network output, unclipped."""
    coefficients = process.y0_coefficients(gamma, prediction)
    return estimate_y0(output, y_t, coefficients, torch.zeros_like(y_t), Target.IMAGE, clip=False)


def test_posterior_equals_bayes_rule_on_the_joint_gaussian() -> None:
    # Given y0: y_prev ~ N(sqrt(g_prev) y0, 1-g_prev), y_t | y_prev ~ N(sqrt(a) y_prev, 1-a), a = g_t/g_prev
    gamma_prev, gamma_t = torch.tensor([0.9], dtype=torch.float64), torch.tensor([0.6], dtype=torch.float64)
    alpha = gamma_t / gamma_prev
    y0, y_t = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[-1.2]], dtype=torch.float64)
    prior_mean, prior_var = gamma_prev.sqrt() * y0, 1 - gamma_prev
    likelihood_precision = alpha / (1 - alpha)  # in y_prev, from y_t = sqrt(a) y_prev + noise
    precision = 1 / prior_var + likelihood_precision
    bayes_var = 1 / precision
    bayes_mean = bayes_var * (prior_mean / prior_var + alpha.sqrt() * y_t / (1 - alpha))
    posterior = process.posterior(gamma_t, gamma_prev)
    mean = posterior.mean_y0 * y0 + posterior.mean_yt * y_t
    torch.testing.assert_close(mean, bayes_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(posterior.variance, bayes_var, rtol=1e-12, atol=1e-12)


def test_posterior_mean_from_y0_equals_the_papers_eps_form() -> None:
    # Palette eq. 8: mu = 1/sqrt(alpha_t) (y_t - (1 - alpha_t) / sqrt(1 - gamma_t) eps)
    generator = torch.Generator().manual_seed(1)
    levels = gammas(LINEAR)
    for t in (1, 10, 500, 999):
        gamma_t, gamma_prev = levels[t : t + 1], levels[t - 1 : t]
        alpha = gamma_t / gamma_prev
        y_t = torch.randn(1, 3, 4, 4, dtype=torch.float64, generator=generator)
        eps = torch.randn(1, 3, 4, 4, dtype=torch.float64, generator=generator)
        y0 = y0_from_output(y_t, gamma_t, eps, Prediction.EPS)
        posterior = process.posterior(gamma_t, gamma_prev)
        mean = posterior.mean_y0 * y0 + posterior.mean_yt * y_t
        paper = (y_t - (1 - alpha) / (1 - gamma_t).sqrt() * eps) / alpha.sqrt()
        torch.testing.assert_close(mean, paper, rtol=1e-6, atol=1e-9)
        expected_var = (1 - gamma_prev) / (1 - gamma_t) * (1 - alpha)
        assert posterior.variance.item() == pytest.approx(expected_var.item(), rel=1e-12)


def test_eps_v_and_y0_parameterisations_are_consistent() -> None:
    generator = torch.Generator().manual_seed(2)
    y0 = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=generator) * 2 - 1
    eps = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=generator)
    gamma = torch.tensor([0.2, 0.95], dtype=torch.float64)
    y_t = process.q_sample(y0, gamma, eps)
    torch.testing.assert_close(y0_from_output(y_t, gamma, eps, Prediction.EPS), y0)
    torch.testing.assert_close(y0_from_output(y_t, gamma, process.v_target(y0, gamma, eps), Prediction.V), y0)
    torch.testing.assert_close(y0_from_output(y_t, gamma, y0, Prediction.Y0), y0)


def test_palette_linear_schedules_reach_pure_noise() -> None:
    assert gammas(LINEAR)[-1].item() < 1e-15
    train = ScheduleConfig(num_steps=2000, beta_start=1e-6, beta_end=0.01)
    assert gammas(train)[-1].item() == pytest.approx(
        math.prod(1 - b for b in betas(train).tolist()), rel=1e-9
    )
    assert 1e-5 < gammas(train)[-1].item() < 1e-4  # Palette's training schedule stops short of pure noise


def test_cosine_schedule_follows_the_squared_cosine() -> None:
    levels = gammas(COSINE)
    s = COSINE.cosine_offset
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert levels[499].item() == pytest.approx(f(0.5) / f(0.0), rel=1e-9)
    assert torch.all(levels[1:] < levels[:-1])


def test_sampling_gammas_with_every_step_is_the_whole_schedule_then_clean() -> None:
    levels = sampling_gammas(LINEAR, 1000)
    torch.testing.assert_close(levels[:-1], gammas(LINEAR).flip(0))
    assert levels[-1].item() == 1.0


def test_sampling_gammas_respaced_are_increasing_and_start_at_the_noisiest_level() -> None:
    levels = sampling_gammas(LINEAR, 50)
    assert levels.shape == (51,)
    assert levels[0].item() == gammas(LINEAR)[-1].item()
    assert torch.all(levels[1:] > levels[:-1])


def test_a_partial_start_begins_at_the_same_level_whatever_the_number_of_steps() -> None:
    """SDEdit's t0: the level a noised image starts from is set by ``start``, not by the step count."""
    firsts = {sampling_gammas(LINEAR, steps, start=0.3)[0].item() for steps in (1, 2, 10, 300)}
    assert firsts == {gammas(LINEAR)[299].item()}


def test_a_partial_start_spends_every_step_below_its_first_level() -> None:
    levels = sampling_gammas(LINEAR, 10, start=0.3)
    assert levels.shape == (11,)
    assert torch.all(levels[1:] > levels[:-1])
    assert levels[-2].item() == gammas(LINEAR)[0].item()


@pytest.mark.parametrize("spacing", list(Spacing))
def test_a_partial_start_begins_at_its_level_with_either_spacing(spacing: Spacing) -> None:
    levels = sampling_gammas(LINEAR, 4, spacing, start=0.3)
    assert levels[0].item() == pytest.approx(gammas(LINEAR)[299].item())


def test_a_partial_start_takes_more_steps_than_its_part_has_levels_as_distinct_levels_between_them() -> None:
    """A request may ask for as many steps as the schedule has, whatever the task's partial start."""
    levels = sampling_gammas(LINEAR, 1000, start=0.3)
    assert levels.shape == (1001,)
    assert levels[0].item() == pytest.approx(gammas(LINEAR)[299].item())
    assert levels[-2].item() == pytest.approx(gammas(LINEAR)[0].item())
    assert torch.all(levels[1:] > levels[:-1])


def test_sampling_gammas_rejects_more_steps_than_the_schedule_has() -> None:
    with pytest.raises(ValueError, match="between 1 and 1000"):
        sampling_gammas(LINEAR, 1001)

"""The EDM / residual-over-a-classical-prior recipe: Karras levels, the preconditioning, the log-normal
noise levels and loss weights, the classical prior, and sampling a residual model end to end."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from model.config import (
    DiffusionConfig,
    LossWeighting,
    ModelConfig,
    Preconditioning,
    Prediction,
    Prior,
    Target,
)
from model.data.dataset import PaletteDataset, crop_side
from model.diffusion.objective import TrainingObjective
from model.diffusion.schedule import gammas, sampling_gammas, sigma_from_gamma
from model.imaging import images_to_tensor
from model.nn import EDMPreconditionedUNet, PaletteUNet, create_network
from model.nn.preconditioning import edm_coefficients
from model.pipeline import Conditioning, PalettePipeline
from model.sampling import SamplerKind, SamplerSettings, sampler_levels
from model.tasks.inpaint import Inpaint
from model.tasks.masks import MaskKind
from model.tasks.prior import classical_prior, gaussian_blur
from tests.conftest import EDM_RESIDUAL, KARRAS, random_network, tiny_model_config

CPU = torch.device("cpu")


def residual_model(**diffusion: object) -> ModelConfig:
    return dataclasses.replace(tiny_model_config(), diffusion=dataclasses.replace(EDM_RESIDUAL, **diffusion))


def inpainting_conditions(photo: np.ndarray, count: int, size: int = 32) -> list[Conditioning]:
    rng = np.random.default_rng(0)
    small = np.asarray(Image.fromarray(photo).resize((size, size)), dtype=np.uint8)
    conditions = []
    for _ in range(count):
        degraded = Inpaint(MaskKind.BOX).degrade(small, rng)
        conditions.append(Conditioning(source=degraded.source, mask=degraded.mask))
    return conditions


def test_karras_levels_run_from_sigma_min_to_sigma_max_evenly_in_sigma_to_the_one_over_rho() -> None:
    sigma = sigma_from_gamma(gammas(KARRAS))
    assert sigma[0].item() == pytest.approx(0.002, rel=1e-9)
    assert sigma[-1].item() == pytest.approx(20.0, rel=1e-9)
    steps = torch.diff(sigma ** (1 / 7.0))
    assert torch.allclose(steps, steps[0].expand_as(steps), rtol=1e-9)


def test_edm_preconditioning_needs_a_y0_prediction() -> None:
    with pytest.raises(ValueError, match="predict y0"):
        DiffusionConfig(preconditioning=Preconditioning.EDM, prediction=Prediction.V)


def test_preconditioned_network_feeds_the_unet_unit_variance_noisy_input_at_every_level() -> None:
    network = EDMPreconditionedUNet(tiny_model_config().unet, sigma_data=0.3)
    seen: list[Tensor] = []
    network.conv_in.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0][:, 4:]))
    generator = torch.Generator().manual_seed(0)
    for sigma in (0.01, 0.3, 20.0):
        gamma = torch.full((8,), 1.0 / (1.0 + sigma**2))
        y0 = 0.3 * torch.randn(8, 3, 32, 32, generator=generator)
        y_t = gamma.sqrt()[:, None, None, None] * (y0 + sigma * torch.randn(y0.shape, generator=generator))
        network(torch.zeros_like(y0), torch.ones(8, 1, 32, 32), y_t, gamma)
        assert seen[-1].std().item() == pytest.approx(1.0, rel=0.05)


def test_untrained_preconditioned_network_returns_the_skip_connection_alone() -> None:
    network = EDMPreconditionedUNet(tiny_model_config().unet, sigma_data=0.3)  # output layer starts at 0
    sigma = torch.tensor([0.05, 1.0, 10.0])
    gamma = 1.0 / (1.0 + sigma**2)
    y_t = torch.randn(3, 3, 32, 32)
    denoised = network(torch.zeros_like(y_t), torch.ones(3, 1, 32, 32), y_t, gamma)
    x = y_t / gamma.sqrt()[:, None, None, None]  # the variance-exploding state y0 + sigma eps
    c_skip = edm_coefficients(sigma, 0.3).c_skip.float()[:, None, None, None]
    torch.testing.assert_close(denoised, c_skip * x, rtol=1e-4, atol=1e-5)


def test_edm_weighted_loss_is_the_plain_loss_on_the_raw_network_output() -> None:
    """lambda ||D - y0||^2 = ||F - F*||^2 with F* = (y0 - c_skip x) / c_out: the weight makes every
    noise level's target unit-scale (EDM eq. 8)."""
    config = dataclasses.replace(EDM_RESIDUAL, target=Target.IMAGE, residual_taper=0.0)
    objective = TrainingObjective(config)
    raw = 0.1

    class ConstantRaw(nn.Module):
        def forward(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
            sigma = sigma_from_gamma(gamma)
            c = edm_coefficients(sigma, config.sigma_data)
            x = y_t * (1 + sigma**2).sqrt().float()[:, None, None, None]
            return c.c_skip.float()[:, None, None, None] * x + c.c_out.float()[:, None, None, None] * raw

    y0, noise = 0.3 * torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    sigma = torch.tensor([0.01, 0.2, 2.0, 15.0], dtype=torch.float64)
    gamma = 1.0 / (1.0 + sigma**2)
    loss = objective.loss(ConstantRaw(), y0, torch.ones(4, 1, 8, 8), y0, gamma=gamma, noise=noise)
    c = edm_coefficients(sigma, config.sigma_data)
    x = y0.double() + sigma[:, None, None, None] * noise.double()
    target_raw = (y0.double() - c.c_skip[:, None, None, None] * x) / c.c_out[:, None, None, None]
    assert loss.item() == pytest.approx((raw - target_raw).square().mean().item(), rel=1e-3)


def test_log_normal_noise_levels_have_the_configured_log_sigma_mean_and_spread() -> None:
    objective = TrainingObjective(dataclasses.replace(EDM_RESIDUAL, p_mean=-1.4, p_std=1.5))
    log_sigma = sigma_from_gamma(
        objective.sample_levels(200_000, torch.Generator().manual_seed(0)).gamma
    ).log()
    assert log_sigma.mean().item() == pytest.approx(-1.4, abs=0.02)
    assert log_sigma.std().item() == pytest.approx(1.5, abs=0.02)


def test_a_start_level_fraction_puts_that_share_of_examples_at_the_first_sampling_level() -> None:
    config = dataclasses.replace(EDM_RESIDUAL, start_level_fraction=0.25)
    objective = TrainingObjective(config)
    gamma = objective.sample_levels(100_000, torch.Generator().manual_seed(0)).gamma
    first_sampling_level = gammas(config.sample_schedule)[-1]
    assert (gamma == first_sampling_level).double().mean().item() == pytest.approx(0.25, abs=0.01)


def test_task_start_levels_put_a_partial_start_at_its_own_level_noised_from_the_source() -> None:
    config = dataclasses.replace(EDM_RESIDUAL, start_level_fraction=0.5, task_start_levels=True)
    starts = torch.tensor([1.0, 0.3], dtype=torch.float64).repeat(5_000)
    gamma, from_source = TrainingObjective(config).sample_levels(
        10_000, torch.Generator().manual_seed(0), starts
    )
    partial_level = sampling_gammas(config.sample_schedule, 1, start=0.3)[0]
    at_partial = gamma == partial_level
    assert at_partial[1::2].double().mean().item() == pytest.approx(0.5, abs=0.03)
    assert not at_partial[0::2].any()
    assert torch.equal(from_source, at_partial)
    assert (gamma[0::2] == gammas(config.sample_schedule)[-1]).double().mean().item() == pytest.approx(
        0.5, abs=0.03
    )


def test_an_example_noised_from_the_source_sees_only_noise_on_a_residual_but_is_scored_on_the_truth() -> None:
    objective = TrainingObjective(EDM_RESIDUAL)
    seen: list[Tensor] = []

    class Recorder(nn.Module):
        def forward(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
            seen.append(y_t)
            return torch.zeros_like(y_t)

    source, y0, noise = torch.zeros(2, 3, 8, 8), 0.5 * torch.ones(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    gamma = torch.full((2,), 0.9, dtype=torch.float64)
    loss = objective.loss(
        Recorder(),
        source,
        torch.ones(2, 1, 8, 8),
        y0,
        gamma=gamma,
        noise=noise,
        from_source=torch.tensor([True, False]),
    )
    torch.testing.assert_close(seen[0][0], math.sqrt(0.1) * noise[0])
    torch.testing.assert_close(seen[0][1], math.sqrt(0.9) * y0[1] + math.sqrt(0.1) * noise[1])
    assert loss.item() > 0.0  # a zero output misses the truth, 0.5, on both examples


def test_without_a_start_level_fraction_the_noise_levels_are_drawn_as_before() -> None:
    plain = TrainingObjective(EDM_RESIDUAL).sample_levels(64, torch.Generator().manual_seed(3)).gamma
    normal = torch.randn(64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    expected = 1.0 / (1.0 + (EDM_RESIDUAL.p_mean + EDM_RESIDUAL.p_std * normal).exp() ** 2)
    torch.testing.assert_close(plain, expected)


def test_min_snr_weight_caps_the_signal_to_noise_ratio_of_a_v_prediction() -> None:
    config = DiffusionConfig(prediction=Prediction.V, loss_weighting=LossWeighting.MIN_SNR)
    snr = torch.tensor([0.1, 1.0, 5.0, 100.0], dtype=torch.float64)
    weight = TrainingObjective(config).weight(snr / (1.0 + snr))
    expected = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / (snr + 1.0)
    torch.testing.assert_close(weight, expected)


def box_hole(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``photo`` with a grey box where its mask is True."""
    mask = np.zeros(photo.shape[:2], dtype=bool)
    mask[200:260, 220:300] = True
    source = photo.copy()
    source[mask] = 128
    return source, mask


@pytest.mark.parametrize("prior", list(Prior))
def test_classical_prior_fills_the_hole_and_keeps_every_known_pixel(photo: np.ndarray, prior: Prior) -> None:
    source, mask = box_hole(photo)
    filled = classical_prior(source, mask, prior)
    assert np.array_equal(filled[~mask], photo[~mask])
    hole_error = np.abs(filled[mask].astype(int) - photo[mask]).mean()
    assert hole_error < np.abs(source[mask].astype(int) - photo[mask]).mean() / 2


@pytest.mark.parametrize("prior", list(Prior))
def test_the_prior_of_a_prior_is_itself(photo: np.ndarray, prior: Prior) -> None:
    source, mask = box_hole(photo)
    filled = classical_prior(source, mask, prior)
    assert np.array_equal(classical_prior(filled, mask, prior), filled)


@pytest.mark.parametrize("prior", list(Prior))
def test_classical_prior_of_a_fully_generated_image_is_its_source(photo: np.ndarray, prior: Prior) -> None:
    assert np.array_equal(classical_prior(photo, np.ones(photo.shape[:2], dtype=bool), prior), photo)


def test_the_smoothed_prior_has_no_crease_on_a_square_holes_diagonals() -> None:
    # White above the hole, black beside and below it: fast marching fills the hole's top triangle white
    # and its side triangles black, so a row across the hole jumps at the diagonals; the smoothed fill
    # changes more gradually in the inner half of the hole (8 or more pixels deep), where it blends most.
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[:16] = 255
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 16:48] = True

    def largest_step_along_the_rows(filled: np.ndarray) -> int:
        return int(np.abs(np.diff(filled[24:40, 24:40, 0].astype(int), axis=1)).max())

    telea = classical_prior(image, mask, Prior.TELEA)
    smoothed = classical_prior(image, mask, Prior.SMOOTHED_TELEA)
    assert largest_step_along_the_rows(telea) > 60
    assert largest_step_along_the_rows(smoothed) < largest_step_along_the_rows(telea) / 2


def test_a_wide_blur_of_a_downscaled_copy_matches_the_direct_one() -> None:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.random((256, 256, 3)).astype(np.float32) * 255, (0, 0), 6)
    direct = cv2.GaussianBlur(image, (0, 0), 24.0)
    assert np.abs(gaussian_blur(image, 24.0) - direct)[32:-32, 32:-32].max() < 2.0


@pytest.mark.parametrize("prior", list(Prior))
def test_residual_training_examples_are_conditioned_on_the_prior(
    tmp_path: Path, photo: np.ndarray, prior: Prior
) -> None:
    Image.fromarray(photo).resize((96, 96)).save(tmp_path / "astronaut.png")
    plain = PaletteDataset(tmp_path, resolution=32, tasks=("inpaint",), seed=3)[0]
    residual = PaletteDataset(tmp_path, resolution=32, tasks=("inpaint",), seed=3, prior=prior)[0]
    source = ((plain.source.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    expected = images_to_tensor([classical_prior(source, plain.mask[0].bool().numpy(), prior)])[0]
    torch.testing.assert_close(residual.source, expected)
    torch.testing.assert_close(residual.target, plain.target)


def test_a_residual_model_that_predicts_no_correction_returns_the_classical_prior(photo: np.ndarray) -> None:
    config = residual_model(preconditioning=Preconditioning.NONE, loss_weighting=LossWeighting.UNIFORM)
    network = PaletteUNet(config.unet).eval()  # ADM's zero-initialised output: y0 = 0 residual
    pipeline = PalettePipeline(network, config, CPU)
    conditions = inpainting_conditions(photo, 2)
    samples = pipeline.sample(conditions, [0, 1], SamplerSettings(SamplerKind.DDIM, steps=1))
    for sample, condition in zip(samples, conditions, strict=True):
        assert np.array_equal(sample, classical_prior(condition.source, condition.mask))


@pytest.mark.parametrize("kind", [SamplerKind.DDPM, SamplerKind.DDIM, SamplerKind.DPMPP_2M])
def test_residual_samples_keep_known_pixels_exactly(photo: np.ndarray, kind: SamplerKind) -> None:
    config = residual_model()
    pipeline = PalettePipeline(random_network(config), config, CPU)
    conditions = inpainting_conditions(photo, 3)
    samples = pipeline.sample(conditions, [0, 1, 2], SamplerSettings(kind, steps=5))
    for sample, condition in zip(samples, conditions, strict=True):
        assert np.array_equal(sample[~condition.mask], condition.source[~condition.mask])
        assert not np.array_equal(sample[condition.mask], condition.source[condition.mask])


def test_create_network_wraps_the_unet_only_for_edm_preconditioning() -> None:
    assert type(create_network(tiny_model_config())) is PaletteUNet
    wrapped = create_network(residual_model())
    assert isinstance(wrapped, EDMPreconditionedUNet) and wrapped.sigma_data == 0.3
    assert wrapped.state_dict().keys() == PaletteUNet(tiny_model_config().unet).state_dict().keys()


def test_karras_sampling_levels_start_at_sigma_max_and_end_clean() -> None:
    levels = sampler_levels(SamplerSettings(SamplerKind.DDIM, steps=10), EDM_RESIDUAL)
    assert sigma_from_gamma(levels[0]).item() == pytest.approx(20.0, rel=1e-6)
    assert levels[-1].item() == 1.0 and math.isclose(sigma_from_gamma(levels[-2]).item(), 0.002, rel_tol=1e-6)


def test_log_uniform_crops_visit_every_zoom_about_equally() -> None:
    # A 512-pixel short side, crops of 64..512 pixels: an octave of zoom each third of the draws.
    sides = [
        crop_side(512, 64, (1 / 64, 1.0), np.random.default_rng(seed), log_uniform=True)
        for seed in range(3000)
    ]
    octaves = np.histogram(np.log2(sides), bins=3, range=(6, 9))[0]
    assert octaves.min() > 0.85 * octaves.max()


def test_area_uniform_crops_favour_the_whole_photo() -> None:
    sides = [crop_side(512, 64, (1 / 64, 1.0), np.random.default_rng(seed)) for seed in range(3000)]
    octaves = np.histogram(np.log2(sides), bins=3, range=(6, 9))[0]
    assert octaves[2] > 5 * octaves[0]

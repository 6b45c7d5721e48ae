"""A residual model's taper: the network's correction of the classical fill fades in from the edge of the
hole, so the fill meets the known pixels without a seam; restoration and colorization are untouched."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.config import DiffusionConfig, ModelConfig, Target
from model.diffusion.target import edge_fade, finished_image
from model.training.export import with_sampling_of
from tests.conftest import EDM_RESIDUAL, tiny_model_config


def row_mask(known: int, unknown: int) -> torch.Tensor:
    """(1, 1, 1, known + unknown): the first ``known`` pixels known, the rest to generate."""
    mask = torch.ones(1, 1, 1, known + unknown)
    mask[..., :known] = 0.0
    return mask


def test_edge_fade_rises_from_zero_at_known_pixels_to_one_a_width_into_the_hole() -> None:
    fade = edge_fade(row_mask(1, 16), width=8.0)[0, 0, 0]
    expected = torch.tensor([min(x / 8.0, 1.0) for x in range(17)])
    assert torch.allclose(fade, expected)


def test_edge_fade_is_one_everywhere_when_no_pixel_is_known() -> None:
    assert torch.equal(edge_fade(torch.ones(2, 1, 5, 7), width=8.0), torch.ones(2, 1, 5, 7))


def test_a_residual_models_correction_fades_in_from_the_edge_of_the_hole() -> None:
    mask = row_mask(1, 16)
    prior, correction = torch.zeros(1, 3, 1, 17), torch.full((1, 3, 1, 17), 0.5)
    tapered = finished_image(correction, prior, mask, EDM_RESIDUAL)
    assert torch.allclose(tapered, 0.5 * edge_fade(mask, 8.0).expand_as(tapered))
    untapered = finished_image(correction, prior, mask, dataclasses.replace(EDM_RESIDUAL, residual_taper=0.0))
    assert torch.equal(untapered[..., 1:], correction[..., 1:])


def test_the_taper_leaves_a_task_that_generates_every_pixel_untouched() -> None:
    prior = torch.zeros(2, 3, 8, 8)
    correction = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.1
    assert torch.equal(finished_image(correction, prior, torch.ones(2, 1, 8, 8), EDM_RESIDUAL), correction)


def test_a_negative_taper_is_refused() -> None:
    with pytest.raises(ValueError, match="residual_taper"):
        dataclasses.replace(EDM_RESIDUAL, residual_taper=-1.0)


def test_a_taper_on_a_model_that_diffuses_the_image_is_refused() -> None:
    with pytest.raises(ValueError, match="residual models only"):
        DiffusionConfig(target=Target.IMAGE, residual_taper=8.0)


def test_export_takes_the_taper_of_a_config_as_an_inference_setting() -> None:
    trained = dataclasses.replace(
        tiny_model_config(), diffusion=dataclasses.replace(EDM_RESIDUAL, residual_taper=0.0)
    )
    wanted: ModelConfig = dataclasses.replace(tiny_model_config(), diffusion=EDM_RESIDUAL)
    assert with_sampling_of(trained, wanted).diffusion.residual_taper == 8.0

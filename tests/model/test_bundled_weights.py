"""The bundled default weights: present, the architecture the model card describes, and able to sample.

Guards against a broken, truncated or swapped file landing in the repository.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model.checkpoint import read_checkpoint
from model.config import Preconditioning, Prediction, Target
from model.fullres.run import run_task
from model.pipeline import PalettePipeline
from model.sampling import SamplerKind, SamplerSettings
from model.tasks import get_task
from model.weights import DEFAULT_WEIGHTS


@pytest.fixture(scope="module")
def pipeline() -> PalettePipeline:
    return PalettePipeline.from_checkpoint(DEFAULT_WEIGHTS, device="cpu")


def test_the_bundled_weights_are_small_enough_to_ship() -> None:
    assert DEFAULT_WEIGHTS.is_file(), f"{DEFAULT_WEIGHTS} is missing"
    assert DEFAULT_WEIGHTS.stat().st_size < 40 * 2**20


def test_the_bundled_weights_are_the_64px_residual_generalist_of_the_model_card() -> None:
    config = read_checkpoint(DEFAULT_WEIGHTS).config
    assert config.resolution == 64
    assert set(config.tasks) == {"inpaint", "colorize", "uncrop", "restore"}
    assert config.diffusion.target is Target.RESIDUAL
    assert config.diffusion.preconditioning is Preconditioning.EDM
    assert config.diffusion.prediction is Prediction.Y0
    assert config.unet.base_channels == 32 and config.unet.channel_mult == (1, 2, 2, 2)
    assert config.unet.attention_resolutions == (16, 8)


def test_the_bundled_weights_inpaint_a_photo_in_two_ddim_steps(
    pipeline: PalettePipeline, photo: np.ndarray
) -> None:
    inpaint = get_task("inpaint")
    image = Image.fromarray(photo).resize((96, 96))
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (30, 30, 66, 66))
    (sample,) = run_task(pipeline, inpaint, image, mask, {}, SamplerSettings(SamplerKind.DDIM, 2), [0])
    result = np.asarray(sample)
    hole = np.asarray(mask) > 0
    assert np.array_equal(result[~hole], np.asarray(image)[~hole])
    assert 20 < result[hole].mean() < 235  # a plausible fill, not a blown-out or black hole
    assert result[hole].std() > 2

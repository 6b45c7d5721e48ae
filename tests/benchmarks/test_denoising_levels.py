"""benchmarks/denoising_levels.py: the one-shot estimate's PSNR per noise level, against the source."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from model.checkpoint import save_checkpoint
from model.config import LossWeighting, ModelConfig, Preconditioning
from model.nn import PaletteUNet
from tests.conftest import EDM_RESIDUAL, tiny_model_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def levels() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "denoising_levels", REPO / "benchmarks" / "denoising_levels.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["denoising_levels"] = module
    spec.loader.exec_module(module)
    return module


def test_a_residual_model_without_a_correction_scores_its_prior_at_every_level(
    levels: ModuleType, tmp_path: Path, photo: np.ndarray
) -> None:
    diffusion = dataclasses.replace(
        EDM_RESIDUAL, preconditioning=Preconditioning.NONE, loss_weighting=LossWeighting.UNIFORM
    )
    config = ModelConfig(unet=tiny_model_config().unet, diffusion=diffusion, tasks=("restore",))
    weights = save_checkpoint(tmp_path / "zero.safetensors", PaletteUNet(config.unet).state_dict(), config)
    (tmp_path / "val").mkdir()
    Image.fromarray(photo).resize((64, 64)).save(tmp_path / "val" / "astronaut.png")
    table = levels.level_table(weights, tmp_path / "val", crops=2, seed=0)
    (row,) = [line for line in table.splitlines() if line.startswith("| restore-q10 |")]
    *per_level, source = [float(cell) for cell in row.strip("|").split("|")[1:]]
    assert len(per_level) == len(levels.SIGMAS)
    assert per_level == [source] * len(per_level)

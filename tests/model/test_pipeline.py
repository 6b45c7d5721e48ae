"""The sampling API the workers use: a checkpoint in, samples out, reproducible per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import CheckpointError
from model.pipeline import Conditioning, PalettePipeline
from model.sampling import SamplerKind, SamplerSettings

DDIM_4 = SamplerSettings(SamplerKind.DDIM, steps=4)


@pytest.fixture(scope="module")
def pipeline(tiny_checkpoint: Path) -> PalettePipeline:
    return PalettePipeline.from_checkpoint(tiny_checkpoint, device="cpu")


def conditioning(photo: np.ndarray, size: int, corner: int = 0) -> Conditioning:
    from PIL import Image

    mask = np.zeros((size, size), bool)
    mask[8:24, 8:24] = True
    source = np.asarray(Image.fromarray(photo[corner:, corner:]).resize((size, size)))
    return Conditioning(source=source, mask=mask)


def test_the_same_seed_gives_the_same_sample_whatever_else_is_in_the_batch(
    pipeline: PalettePipeline, photo: np.ndarray
) -> None:
    a, b = conditioning(photo, pipeline.resolution), conditioning(photo, pipeline.resolution, corner=100)
    for kind in SamplerKind:
        settings = SamplerSettings(kind, steps=4)
        alone = pipeline.sample([a], [11], settings)[0]
        first = pipeline.sample([a, b], [11, 12], settings)[0]
        last = pipeline.sample([b, b, a], [5, 6, 11], settings)[2]
        assert np.abs(alone.astype(int) - first).max() <= 1, kind
        assert np.abs(alone.astype(int) - last).max() <= 1, kind


def test_different_seeds_give_different_samples(pipeline: PalettePipeline, photo: np.ndarray) -> None:
    a = conditioning(photo, pipeline.resolution)
    samples = pipeline.sample([a, a], [1, 2], SamplerSettings(SamplerKind.DDPM, steps=10))
    assert np.abs(samples[0].astype(int) - samples[1]).mean() > 1


@pytest.mark.parametrize("kind", list(SamplerKind))
def test_known_pixels_survive_sampling_bit_for_bit(
    pipeline: PalettePipeline, photo: np.ndarray, kind: SamplerKind
) -> None:
    a = conditioning(photo, pipeline.resolution)
    sample = pipeline.sample([a], [3], SamplerSettings(kind, steps=4))[0]
    assert np.array_equal(sample[~a.mask], a.source[~a.mask])


def test_progress_is_reported_for_every_step(pipeline: PalettePipeline, photo: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    pipeline.sample(
        [conditioning(photo, pipeline.resolution)], [0], DDIM_4, progress=lambda s, t: calls.append((s, t))
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_source_of_the_wrong_size_is_rejected(pipeline: PalettePipeline) -> None:
    wrong = Conditioning(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool))
    with pytest.raises(ValueError, match="source must be"):
        pipeline.sample([wrong], [0], DDIM_4)


def test_a_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        PalettePipeline.from_checkpoint(tmp_path / "missing.safetensors", device="cpu")

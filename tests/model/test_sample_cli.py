"""``palette sample`` on local files (the README's sampling command)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from palette.cli import main


@pytest.fixture
def inputs(tmp_path: Path, photo: np.ndarray) -> tuple[Path, Path]:
    image, mask = tmp_path / "a.png", tmp_path / "m.png"
    Image.fromarray(photo).save(image)
    mask_image = Image.new("L", (512, 512), 0)
    mask_image.paste(255, (100, 100, 300, 300))
    mask_image.save(mask)
    return image, mask


def test_sample_writes_the_requested_samples_and_a_record(
    tmp_path: Path, inputs: tuple[Path, Path], tiny_checkpoint: Path
) -> None:
    image, mask = inputs
    out = tmp_path / "out"
    argv = ["sample", "--task", "inpaint", "--image", str(image), "--mask", str(mask), "--samples", "3"]
    argv += [
        "--steps",
        "3",
        "--sampler",
        "ddim",
        "--seed",
        "1",
        "--out",
        str(out),
        "--weights",
        str(tiny_checkpoint),
    ]
    assert main(argv) == 0
    record = json.loads((out / "a-inpaint.json").read_text())
    assert record["seeds"] == [1, 2, 3]
    pictures = sorted(out.glob("a-inpaint-*.png"))
    assert len(pictures) == 3
    original = np.asarray(Image.open(image))
    outside = np.asarray(Image.open(mask)) == 0
    for picture in pictures:
        assert np.array_equal(np.asarray(Image.open(picture))[outside], original[outside])


def test_sample_with_a_bad_mask_fails_with_a_message(
    tmp_path: Path, inputs: tuple[Path, Path], tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, _ = inputs
    small_mask = tmp_path / "small.png"
    Image.new("L", (10, 10), 255).save(small_mask)
    argv = ["sample", "--task", "inpaint", "--image", str(image), "--mask", str(small_mask)]
    argv += ["--out", str(tmp_path / "o"), "--weights", str(tiny_checkpoint)]
    assert main(argv) == 2
    assert "same size" in capsys.readouterr().err


def test_sample_with_missing_weights_fails_with_a_message(
    tmp_path: Path, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image, _ = inputs
    argv = ["sample", "--task", "colorize", "--image", str(image), "--out", str(tmp_path / "o")]
    argv += ["--weights", str(tmp_path / "none.safetensors")]
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sample_answers_at_the_uploads_upright_size_after_its_exif_rotation(
    tmp_path: Path, photo: np.ndarray, tiny_checkpoint: Path
) -> None:
    stored = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored 194x128 pixels are shown turned 90 degrees, 128x194
    Image.fromarray(photo).resize((194, 128)).save(stored, exif=exif.tobytes(), quality=30)
    out = tmp_path / "out"
    argv = ["sample", "--task", "restore", "--image", str(stored), "--samples", "1", "--steps", "2"]
    argv += ["--seed", "1", "--out", str(out), "--weights", str(tiny_checkpoint)]
    assert main(argv) == 0
    assert Image.open(out / "rotated-restore-0.png").size == (128, 194)
    assert json.loads((out / "rotated-restore.json").read_text())["size"] == [128, 194]

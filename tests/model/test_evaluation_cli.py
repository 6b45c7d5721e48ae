"""``palette eval`` end to end on the tiny random checkpoint, and the fixed inputs it evaluates on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.evaluation.conditions import CENTRED_BOX_AREA, conditions_for
from model.evaluation.evaluate import shown_path
from model.evaluation.heldout import degrade_all, load_crops
from model.evaluation.inception import INCEPTION_ENV, NOT_COMPUTED
from model.tasks.restore import jpeg_roundtrip
from palette.cli import main as palette
from tests.model.test_evaluation_inception import save_stand_in

TASKS = ("inpaint", "colorize", "uncrop", "restore")
# The report's tables: each task on the conditions issue 12 names (model.evaluation.conditions).
CONDITIONS = {
    "inpaint": "inpaint",
    "inpaint-box16": "inpaint",
    "colorize": "colorize",
    "uncrop-side50": "uncrop",
    "restore-q10": "restore",
}
METRICS = {
    "psnr",
    "psnr_best_of_n",
    "ssim",
    "ssim_best_of_n",
    "l1",
    "l1_best_of_n",
    "perceptual",
    "perceptual_best_of_n",
    "fd_effnetlite0",
    "kid_effnetlite0",
    "kid_effnetlite0_std",
    "diversity_l1",
    "diversity_perceptual",
}
BASELINES = {
    "inpaint": ["OpenCV Telea", "OpenCV Navier-Stokes", "Telea, smoothed", "Navier-Stokes, smoothed"],
    "uncrop": ["OpenCV Telea", "OpenCV Navier-Stokes", "Telea, smoothed", "Navier-Stokes, smoothed"],
    "colorize": ["grayscale input"],
    "restore": ["JPEG input"],
}


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    folder = tmp_path_factory.mktemp("heldout")
    Image.fromarray(data.astronaut()).resize((60, 48)).save(folder / "astronaut.png")
    Image.fromarray(data.coffee()).resize((64, 48)).save(folder / "coffee.jpg")
    return folder


def assert_every_metric_but_kids_spread(metrics: dict[str, float | None]) -> None:
    """Two inputs make one KID subset: a mean without a spread; every other number is there."""
    assert metrics["kid_effnetlite0_std"] is None
    assert all(value is not None for key, value in metrics.items() if key != "kid_effnetlite0_std")


def _eval(tiny_checkpoint: Path, heldout: Path, out: Path, *extra: str) -> int:
    args = ["eval", "--weights", str(tiny_checkpoint), "--data", str(heldout), "--out", str(out)]
    return palette([*args, "--samples", "2", "--sampler", "ddim:2", "--crops", "1", *extra])


def test_palette_eval_writes_every_report_file_and_key(
    tiny_checkpoint: Path, heldout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    assert _eval(tiny_checkpoint, heldout, tmp_path) == 0

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["checkpoint"]["sha256"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert report["config"]["samplers"] == ["ddim:2"] and report["config"]["seed"] == 0
    assert {"platform", "cpu_count", "torch", "device"} <= report["machine"].keys()
    assert report["started"] and report["seconds"] > 0 and report["photos"] == 2
    assert report["fid_is"] == NOT_COMPUTED
    assert set(report["tasks"]) == set(CONDITIONS)
    for key, result in report["tasks"].items():
        assert result["inputs"] == 2
        names = [row["name"] for row in result["rows"]]
        assert names == ["Palette ddim:2", *BASELINES[CONDITIONS[key]]]
        for row in result["rows"]:
            assert set(row["metrics"]) == METRICS
            assert row["seconds_per_image"] > 0
            assert {measure: len(values) for measure, values in row["per_input"].items()} == {
                "psnr": 2,
                "perceptual": 2,
            }
        model, *baselines = result["rows"]
        assert (
            model["sampler"] == {"kind": "ddim", "steps": 2, "eta": 0.0} and model["samples_per_input"] == 2
        )
        assert_every_metric_but_kids_spread(model["metrics"])
        assert all(row["metrics"]["diversity_l1"] is None for row in baselines)
        with Image.open(tmp_path / result["grid"]) as grid:  # 2 rows of input | 2 samples | truth
            assert grid.size == (4 * 128 + 3 * 4, 2 * 128 + 4)

    markdown = (tmp_path / "report.md").read_text()
    for heading in (
        "PSNR ↑",
        "SSIM ↑",
        "L1 ↓",
        "FD-EffNetLite0 ↓",
        "KID-EffNetLite0 ↓",
        "Perceptual ↓",
        "s/image ↓",
    ):
        assert heading in markdown
    assert NOT_COMPUTED in markdown and "FID ↓" not in markdown
    assert markdown.count("| Palette ddim:2 |") == 2 * len(CONDITIONS)  # its scores, then paired


def test_a_report_pairs_with_another_of_the_same_inputs(
    tiny_checkpoint: Path, heldout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _eval(tiny_checkpoint, heldout, tmp_path / "a", "--tasks", "restore") == 0
    assert _eval(tiny_checkpoint, heldout, tmp_path / "b", "--tasks", "restore") == 0
    capsys.readouterr()

    assert palette(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0

    # The same checkpoint, inputs and seeds: every paired difference is zero.
    assert "| restore-q10 | Palette ddim:2 | +0.00 ± 0.00 | +0.0000 ± 0.0000 |" in capsys.readouterr().out


def test_reports_name_checkpoints_below_the_working_directory_by_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "runs" / "final.safetensors") == "runs/final.safetensors"
    assert shown_path(Path("/elsewhere/final.safetensors")) == "/elsewhere/final.safetensors"


def test_palette_eval_reports_fid_and_is_with_inception_weights(
    tiny_checkpoint: Path, heldout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = save_stand_in(tmp_path / "inception.pt")
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    assert _eval(tiny_checkpoint, heldout, tmp_path / "out", "--tasks", "restore") == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    for row in report["tasks"]["restore-q10"]["rows"]:
        assert {"fid", "is", "is_std"} <= row["metrics"].keys()
        assert row["metrics"]["fid"] >= 0 and row["metrics"]["is"] >= 1
    assert "FID ↓" in (tmp_path / "out" / "report.md").read_text()


def test_palette_eval_rejects_a_missing_data_folder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    assert _eval(tiny_checkpoint, tmp_path / "nowhere", tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()


def test_inputs_are_fixed_per_photo_and_task(heldout: Path, tmp_path: Path) -> None:
    """The same inputs for every run, sampler and baseline; another photo or --limit changes nothing."""
    crops = load_crops(heldout, 32, 3, 0.75, seed=0, limit=None)
    (mix, _) = conditions_for("inpaint")
    again = degrade_all(mix, load_crops(heldout, 32, 3, 0.75, seed=0, limit=1), seed=0)
    first = degrade_all(mix, crops, seed=0)[: len(again)]
    for a, b in zip(first, again, strict=True):
        assert a.name == b.name and a.seed == b.seed
        np.testing.assert_array_equal(a.source, b.source)
        np.testing.assert_array_equal(a.mask, b.mask)
    assert len({item.seed for item in first}) == len(first)
    np.testing.assert_array_equal(crops[0].image, load_crops(heldout, 32, 1, 0.75, seed=0, limit=1)[0].image)
    assert not np.array_equal(crops[1].image, crops[2].image)  # random crops differ


def test_inpainting_is_also_scored_on_a_centred_box_of_sixteen_percent(heldout: Path) -> None:
    (_, box) = conditions_for("inpaint")
    (item, *_) = degrade_all(box, load_crops(heldout, 60, 1, 0.75, seed=0, limit=1), seed=0)
    rows, cols = np.nonzero(item.mask)
    assert item.mask.mean() == pytest.approx(CENTRED_BOX_AREA, abs=0.01)
    assert (rows.min() + rows.max()) / 2 == pytest.approx(29.5) and rows.min() == cols.min()


def test_uncropping_is_scored_on_half_the_image_beyond_one_side(heldout: Path) -> None:
    (side,) = conditions_for("uncrop")
    for item in degrade_all(side, load_crops(heldout, 32, 3, 0.75, seed=0, limit=None), seed=0):
        assert item.mask.mean() == 0.5
        assert item.mask.all(axis=0).sum() == 16 or item.mask.all(axis=1).sum() == 16


def test_restoration_is_scored_at_jpeg_quality_ten(heldout: Path) -> None:
    (q10,) = conditions_for("restore")
    (item, *_) = degrade_all(q10, load_crops(heldout, 32, 1, 0.75, seed=0, limit=1), seed=0)
    np.testing.assert_array_equal(item.source, jpeg_roundtrip(item.target, 10))


def test_palette_eval_at_a_larger_size_scores_the_full_resolution_path_against_baselines_at_that_size(
    tiny_checkpoint: Path, heldout: Path, tmp_path: Path
) -> None:
    # the tiny model samples at 32x32: 48x48 crops go through tiles (restore) and coarse to fine (inpaint)
    assert (
        _eval(tiny_checkpoint, heldout, tmp_path, "--size", "48", "--tasks", "inpaint,restore,colorize") == 0
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["config"]["size"] == 48 and report["config"]["full_resolution"]
    assert set(report["tasks"]) == {"inpaint", "inpaint-box16", "restore-q10", "colorize"}
    for result in report["tasks"].values():
        model, *baselines = result["rows"]
        assert model["samples_per_input"] == 2 and baselines
        assert_every_metric_but_kids_spread(model["metrics"])

"""The four Palette tasks: training degradations, input validation, and the colour and mask helpers the
full-resolution path uses."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import model.tasks
from model.tasks import TaskInputError, get_task, task_names
from model.tasks.colorize import with_luminance
from model.tasks.inpaint import binary_mask
from model.tasks.masks import MaskKind, box_mask, free_form_mask, uncrop_mask
from model.tasks.restore import jpeg_roundtrip

SIZE = 64


@pytest.fixture
def small(photo: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(photo).resize((SIZE, SIZE), Image.Resampling.LANCZOS))


def test_the_four_paper_tasks_are_registered() -> None:
    assert set(task_names()) >= {"inpaint", "colorize", "uncrop", "restore"}


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known tasks: colorize"):
        get_task("deblur")


def test_a_new_task_is_one_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "upscale.py").write_text(
        textwrap.dedent(
            """
            from model.tasks import register
            from model.tasks.restore import Restore

            @register
            class Upscale(Restore):
                name = "upscale_test_only"
            """
        )
    )
    monkeypatch.setattr(model.tasks, "__path__", [*model.tasks.__path__, str(tmp_path)])
    monkeypatch.setattr(model.tasks, "_REGISTRY", dict(model.tasks._REGISTRY))
    monkeypatch.delitem(sys.modules, "model.tasks.upscale", raising=False)
    model.tasks._discover()
    assert get_task("upscale_test_only").name == "upscale_test_only"
    sys.modules.pop("model.tasks.upscale", None)


@pytest.mark.parametrize("name", ["inpaint", "colorize", "uncrop", "restore"])
def test_degrade_makes_a_source_and_mask_of_the_targets_size(name: str, small: np.ndarray) -> None:
    degraded = get_task(name).degrade(small, np.random.default_rng(0))
    assert degraded.source.shape == small.shape and degraded.source.dtype == np.uint8
    assert degraded.mask.shape == small.shape[:2] and degraded.mask.dtype == bool
    assert degraded.mask.any()


@pytest.mark.parametrize("name", ["inpaint", "uncrop", "restore"])
def test_degrade_is_a_function_of_the_rng(name: str, small: np.ndarray) -> None:
    # Equal generators give equal examples whatever numpy's global state; other generators other ones.
    task = get_task(name)

    def degrade(seed: int, global_seed: int) -> tuple[bytes, bytes]:
        np.random.seed(global_seed)
        degraded = task.degrade(small, np.random.default_rng(seed))
        return degraded.source.tobytes(), degraded.mask.tobytes()

    assert degrade(5, global_seed=0) == degrade(5, global_seed=1)
    assert len({degrade(seed, global_seed=0) for seed in range(8)}) > 1


def test_colorization_degrade_draws_nothing(small: np.ndarray) -> None:
    # Graying is deterministic: any generator gives the same example, and it is left untouched.
    colorize = get_task("colorize")
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    first = colorize.degrade(small, rng)
    second = colorize.degrade(small, np.random.default_rng(6))
    assert rng.bit_generator.state == state
    assert np.array_equal(first.source, second.source) and np.array_equal(first.mask, second.mask)


def test_inpainting_source_hides_exactly_the_masked_pixels(small: np.ndarray) -> None:
    degraded = get_task("inpaint").degrade(small, np.random.default_rng(1))
    assert np.array_equal(degraded.source[~degraded.mask], small[~degraded.mask])
    assert np.all(degraded.source[degraded.mask] == 128)


def test_free_form_masks_cover_10_to_40_percent() -> None:
    rng = np.random.default_rng(0)
    coverage = np.array([free_form_mask(128, rng).mean() for _ in range(60)])
    assert coverage.min() >= 0.10 and np.median(coverage) <= 0.40
    assert coverage.max() < 0.6  # the last stroke may overshoot the target a little


def test_box_masks_cover_20_to_30_percent() -> None:
    rng = np.random.default_rng(0)
    coverage = np.array([box_mask(128, rng).mean() for _ in range(100)])
    assert coverage.min() >= 0.18 and coverage.max() <= 0.32


def test_mixed_masks_draw_both_kinds() -> None:
    rng = np.random.default_rng(0)
    inpaint = type(get_task("inpaint"))(MaskKind.MIXED)
    rectangular = 0
    for _ in range(40):
        mask = inpaint.degrade(np.zeros((64, 64, 3), np.uint8), rng).mask
        rows, cols = np.nonzero(mask)
        rectangular += mask.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert 8 < rectangular < 32


@pytest.mark.parametrize(
    ("sides", "known"),
    [
        (("right",), (slice(0, 64), slice(0, 32))),
        (("left",), (slice(0, 64), slice(32, 64))),
        (("top",), (slice(32, 64), slice(0, 64))),
        (("left", "right", "top", "bottom"), (slice(16, 48), slice(16, 48))),
    ],
)
def test_uncrop_masks_keep_half_of_each_extended_axis(
    sides: tuple[str, ...], known: tuple[slice, slice]
) -> None:
    mask = uncrop_mask(64, sides)
    expected = np.ones((64, 64), bool)
    expected[known] = False
    assert np.array_equal(mask, expected)


def test_jpeg_degradation_uses_the_papers_quality_range(small: np.ndarray) -> None:
    restore = get_task("restore")
    qualities_seen = set()
    for seed in range(40):
        source = restore.degrade(small, np.random.default_rng(seed)).source
        matches = [q for q in range(5, 31) if np.array_equal(source, jpeg_roundtrip(small, q))]
        qualities_seen.update(matches)
        assert matches, "the source must be a JPEG round trip at a quality between 5 and 30"
    assert min(qualities_seen) < 12 and max(qualities_seen) > 22


def test_colorization_source_is_gray(small: np.ndarray) -> None:
    source = get_task("colorize").degrade(small, np.random.default_rng(0)).source
    assert np.array_equal(source[..., 0], source[..., 1]) and np.array_equal(source[..., 1], source[..., 2])


def test_colour_under_a_larger_gray_keeps_the_grays_exact_luminance(photo: np.ndarray) -> None:
    gray_upload = Image.fromarray(photo).convert("L")
    sample = Image.fromarray(photo).resize((SIZE, SIZE))  # any colour image stands in for a sample
    result = with_luminance(sample, gray_upload)
    assert result.size == gray_upload.size and result.mode == "RGB"
    luminance = np.asarray(result.convert("L"), dtype=int)
    assert np.abs(luminance - np.asarray(gray_upload, dtype=int)).max() <= 1  # rounding only
    assert np.asarray(result.convert("HSV"))[..., 1].mean() > 20  # and it is in colour


def test_mask_with_transparency_counts_transparent_pixels_as_black(photo: np.ndarray) -> None:
    layer = Image.new("RGBA", (photo.shape[1], photo.shape[0]), (255, 255, 255, 0))
    layer.paste((255, 255, 255, 255), (0, 0, 50, 50))
    generate = binary_mask(layer)
    assert generate[:50, :50].all() and generate.sum() == 50 * 50


def test_inpainting_rejects_a_mask_of_the_wrong_size(photo: np.ndarray) -> None:
    with pytest.raises(TaskInputError, match="must be the same size"):
        get_task("inpaint").validate(Image.fromarray(photo), Image.new("L", (10, 10), 255), {})


def test_inpainting_rejects_an_empty_mask(photo: np.ndarray) -> None:
    with pytest.raises(TaskInputError, match="mask is empty"):
        get_task("inpaint").validate(Image.fromarray(photo), Image.new("L", (512, 512), 0), {})


def test_inpainting_requires_a_mask_and_others_refuse_one(photo: np.ndarray) -> None:
    image = Image.fromarray(photo)
    with pytest.raises(TaskInputError, match="needs a mask"):
        get_task("inpaint").validate(image, None, {})
    with pytest.raises(TaskInputError, match="takes no mask"):
        get_task("colorize").validate(image, Image.new("L", image.size, 255), {})


def test_unknown_options_are_rejected(photo: np.ndarray) -> None:
    with pytest.raises(TaskInputError, match="no option"):
        get_task("restore").validate(Image.fromarray(photo), None, {"sides": "left"})


def test_uncrop_rejects_unknown_sides(photo: np.ndarray) -> None:
    with pytest.raises(TaskInputError, match="sides must be"):
        get_task("uncrop").validate(Image.fromarray(photo), None, {"sides": "up"})


def test_tasks_do_not_import_torch() -> None:
    import subprocess

    code = "import sys, model.tasks; assert 'torch' not in sys.modules, 'model.tasks imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)

"""Paired differences between rows scored on the same inputs, and the report's table of them."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from model.evaluation.evaluate import Preview, RowResult, TaskResult
from model.evaluation.paired import paired_difference
from model.evaluation.report import paired_table


def test_a_paired_difference_is_the_mean_of_per_input_differences_with_its_standard_error() -> None:
    difference = paired_difference([1.0, 2.0, 4.0], [0.5, 1.0, 1.5])  # differences 0.5, 1, 2.5

    assert difference.mean == pytest.approx(4.0 / 3.0)
    assert difference.standard_error == pytest.approx(np.std([0.5, 1.0, 2.5], ddof=1) / np.sqrt(3))
    assert difference.inputs == 3


def test_a_constant_shift_between_rows_is_certain_however_much_the_inputs_vary() -> None:
    hard_and_easy = [10.0, 30.0, 20.0, 40.0]
    difference = paired_difference([value + 0.25 for value in hard_and_easy], hard_and_easy)

    assert difference.mean == pytest.approx(0.25) and difference.standard_error == pytest.approx(0.0)


def test_one_input_has_no_standard_error() -> None:
    assert paired_difference([3.0], [1.0]).standard_error is None


def test_rows_of_different_lengths_are_not_paired() -> None:
    with pytest.raises(ValueError, match="same nonzero number of inputs"):
        paired_difference([1.0, 2.0], [1.0])


def _row(name: str, kind: str, psnr: list[float], perceptual: list[float]) -> RowResult:
    per_input = {"psnr": psnr, "perceptual": perceptual}
    metrics: dict[str, float | None] = {key: statistics.fmean(values) for key, values in per_input.items()}
    return RowResult(name, kind, None, 1, 0.01, metrics, per_input)


def _task(rows: list[RowResult]) -> TaskResult:
    empty = np.zeros((0, 8, 8, 3), dtype=np.uint8)
    preview = Preview("ddim:1", empty, empty[:, None], empty)
    return TaskResult("inpaint", "inpaint: strokes", 2, "0" * 64, rows, preview)


def test_the_paired_table_compares_each_model_row_with_the_best_baseline_on_each_measure() -> None:
    task = _task(
        [
            _row("Palette ddim:1", "model", [25.0, 27.0], [0.30, 0.40]),  # two inputs each
            _row("Sharp fill", "baseline", [24.0, 26.0], [0.28, 0.36]),  # the better perceptual distance
            _row("Soft fill", "baseline", [24.5, 26.5], [0.31, 0.41]),  # the better PSNR
        ]
    )

    table = paired_table(task)

    assert "over the 2 inputs" in table
    assert "| Palette ddim:1 | +0.50 ± 0.00 vs Soft fill | +0.0300 ± 0.0100 vs Sharp fill |" in table


def test_a_task_without_baselines_has_no_paired_table() -> None:
    assert paired_table(_task([_row("Palette ddim:1", "model", [25.0], [0.3])])) == ""

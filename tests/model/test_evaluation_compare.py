"""``palette compare``: two evaluations paired input by input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from model.evaluation.compare import compare, to_markdown
from palette.cli import main as palette


def _report(fingerprint: str, psnr: list[float], perceptual: list[float]) -> dict[str, Any]:
    model = {"name": "Palette ddim:1", "kind": "model", "per_input": {"psnr": psnr, "perceptual": perceptual}}
    baseline = {"name": "JPEG input", "kind": "baseline", "per_input": {"psnr": [20.0] * len(psnr)}}
    return {"tasks": {"restore-q10": {"inputs_sha256": fingerprint, "rows": [model, baseline]}}}


def test_model_rows_on_the_same_inputs_are_paired_candidate_minus_reference() -> None:
    reference = _report("a" * 64, [24.0, 26.0, 25.0], [0.50, 0.40, 0.45])
    candidate = _report("a" * 64, [24.5, 26.5, 25.5], [0.48, 0.41, 0.43])

    (row,) = compare(reference, candidate).rows

    assert (row.condition, row.row) == ("restore-q10", "Palette ddim:1")
    assert row.differences["psnr"].mean == pytest.approx(0.5)
    assert row.differences["psnr"].standard_error == pytest.approx(0.0)
    assert row.differences["perceptual"].mean == pytest.approx(-0.01)
    assert "| restore-q10 | Palette ddim:1 | +0.50 ± 0.00 | -0.0100 ± 0.0100 |" in to_markdown(
        compare(reference, candidate)
    )


def test_conditions_scored_on_other_inputs_are_not_paired() -> None:
    comparison = compare(_report("a" * 64, [24.0], [0.5]), _report("b" * 64, [25.0], [0.4]))

    assert comparison.rows == [] and comparison.unpaired == ["restore-q10"]
    assert "scored on other inputs): restore-q10" in to_markdown(comparison)


def test_palette_compare_prints_the_paired_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "report.json").write_text(json.dumps(_report("a" * 64, [24.0, 26.0], [0.5, 0.4])))
    (tmp_path / "b.json").write_text(json.dumps(_report("a" * 64, [25.0, 27.0], [0.5, 0.4])))

    assert palette(["compare", str(tmp_path / "a"), str(tmp_path / "b.json")]) == 0

    assert "| restore-q10 | Palette ddim:1 | +1.00 ± 0.00 | +0.0000 ± 0.0000 |" in capsys.readouterr().out


def test_palette_compare_refuses_a_report_without_per_input_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = {"tasks": {"restore-q10": {"rows": []}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(_report("a" * 64, [24.0], [0.5])))

    assert palette(["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 2

    assert "no per-input values: re-run palette eval" in capsys.readouterr().err

"""``palette compare``: is one checkpoint better than another by more than the noise of the inputs?

``palette eval`` keeps, in report.json, each row's per-input PSNR and perceptual distance and a fingerprint
of each condition's inputs (ground truths, degraded sources and masks). Two reports whose condition has the
same fingerprint were scored on the same inputs, so each model row that both have is paired input by input
(the candidate minus the reference, ± the standard error of that mean difference): checkpoints whose means
differ by 0.005 in perceptual distance on 68 inputs can be told apart or not, instead of guessed at.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.evaluation.paired import PAIRED_MEASURES, PairedDifference, paired_difference
from model.evaluation.report import PAIRED_COLUMNS, difference_text


class ReportError(ValueError):
    """A report that cannot be paired: unreadable, or written before per-input values were kept."""


@dataclass(frozen=True)
class RowComparison:
    condition: str
    row: str
    differences: dict[str, PairedDifference]  # measure -> candidate minus reference


@dataclass(frozen=True)
class Comparison:
    rows: list[RowComparison]
    unpaired: list[str]  # conditions in only one report, or scored on different inputs


def load_report(path: Path) -> dict[str, Any]:
    """report.json, given itself or the folder ``palette eval --out`` wrote it into."""
    file = path / "report.json" if path.is_dir() else path
    try:
        report: dict[str, Any] = json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {file}: {error}") from None
    for key, task in report.get("tasks", {}).items():
        if "inputs_sha256" not in task:
            raise ReportError(f"{file} ({key}) has no per-input values: re-run palette eval to pair it")
    return report


def _model_rows(task: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {row["name"]: row for row in task["rows"] if row["kind"] == "model"}


def compare(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Comparison:
    """Every model row the two reports share, on every condition scored on the same inputs."""
    rows, unpaired = [], []
    conditions = list(reference["tasks"])
    conditions += [key for key in candidate["tasks"] if key not in reference["tasks"]]
    for key in conditions:
        ours, theirs = reference["tasks"].get(key), candidate["tasks"].get(key)
        if ours is None or theirs is None or ours["inputs_sha256"] != theirs["inputs_sha256"]:
            unpaired.append(key)
            continue
        ours_rows, theirs_rows = _model_rows(ours), _model_rows(theirs)
        for name in [name for name in ours_rows if name in theirs_rows]:
            before, after = ours_rows[name]["per_input"], theirs_rows[name]["per_input"]
            differences = {
                measure: paired_difference(after[measure], before[measure]) for measure in PAIRED_MEASURES
            }
            rows.append(RowComparison(key, name, differences))
    return Comparison(rows, unpaired)


def to_markdown(comparison: Comparison) -> str:
    header = ["Condition", "Row", *(title for _, title, _ in PAIRED_COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in comparison.rows:
        cells = [difference_text(row.differences[measure], spec) for measure, _, spec in PAIRED_COLUMNS]
        lines.append("| " + " | ".join([row.condition, row.row, *cells]) + " |")
    if comparison.unpaired:
        unpaired = ", ".join(comparison.unpaired)
        lines += ["", f"Not paired (in one report only, or scored on other inputs): {unpaired}"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palette compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path, help="report.json (or its folder) of the checkpoint to beat")
    parser.add_argument("candidate", type=Path, help="report.json (or its folder) of the challenger")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        comparison = compare(load_report(args.reference), load_report(args.candidate))
    except ReportError as error:
        print(f"palette compare: {error}", file=sys.stderr)
        return 2
    if not comparison.rows:
        print("palette compare: no model row was scored on the same inputs in both reports", file=sys.stderr)
        return 2
    print("Candidate minus reference, input by input (mean ± standard error):\n")
    print(to_markdown(comparison))
    return 0

"""Writes an evaluation as ``report.json`` (every number, for scripts), ``report.md`` (a table per task,
for people) and ``grid-<task>.png`` (samples to look at)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from model.evaluation.evaluate import EvaluationResult, RowResult, TaskResult
from model.evaluation.features import WEIGHTS_PACKAGE
from model.evaluation.grid import contact_sheet
from model.evaluation.paired import PAIRED_MEASURES, PairedDifference, paired_difference

FORMAT = "palette-eval/1"
FEATURE_NETWORK = f"EfficientNet-Lite0, ImageNet weights from the {WEIGHTS_PACKAGE} package"

# (metric key, column header, format, has a best-of-N variant)
COLUMNS: tuple[tuple[str, str, str, bool], ...] = (
    ("psnr", "PSNR ↑", ".2f", True),
    ("ssim", "SSIM ↑", ".4f", True),
    ("l1", "L1 ↓", ".4f", True),
    ("fd_effnetlite0", "FD-EffNetLite0 ↓", ".4g", False),
    ("kid_effnetlite0", "KID-EffNetLite0 ↓", ".4g", False),
    ("perceptual", "Perceptual ↓", ".4f", True),
    ("diversity_l1", "Diversity L1 ↑*", ".4f", False),
    ("diversity_perceptual", "Diversity perceptual ↑*", ".4f", False),
)
INCEPTION_COLUMNS: tuple[tuple[str, str, str, bool], ...] = (
    ("fid", "FID ↓", ".2f", False),
    ("is", "IS ↑", ".2f", False),
)

NOTES = """\
How to read this:

- Cells with two numbers are *mean / best-of-N*: the mean over every sample, then the mean over inputs of
  the best of the N samples drawn for that input (an oracle's pick; baselines draw one).
- Paired: each model row minus the best baseline on that measure, input by input (every row is scored on
  the same inputs, so how hard each input is cancels), ± the standard error of that mean difference. A
  difference within about two standard errors of zero is not a win or a loss.
- PSNR (dB), SSIM (Gaussian window, sigma 1.5) and L1 (mean absolute error, 0..1) compare each output with
  its ground truth over the whole image, known pixels included.
- FD-EffNetLite0 and KID-EffNetLite0 are the formulas of FID and KID (unbiased, cubic polynomial kernel,
  100 subsets of 1,000 images, or one subset of all of them when there are fewer, which has no spread)
  applied to the 1280-d pooled features of EfficientNet-Lite0 instead of Inception-v3. They rank rows
  of this report against each other and are **not comparable with published FID/KID**. They use the
  first sample of every input, so every row compares equally many images with the same ground truths;
  with few images both are noisy (FD is also biased upwards), so compare rows, not reports of other sizes.
- Perceptual: LPIPS-like distance in EfficientNet-Lite0 feature maps (unit-normalised per position, five
  scales, no learned weights; 0 = identical, at most 4). Not LPIPS.
- Diversity (*): mean pairwise distance between the N samples of one input, inside the generated region
  only; higher is better only at equal fidelity (0 means the model ignores its noise).
- s/image: wall time per output image, including batching; model rows sample in batches of the configured
  size, so compare rows of one report (same machine, same batch size).
"""


def _jsonable(value: Any) -> Any:
    """Strict JSON: infinite PSNR (an output equal to its ground truth) becomes the string "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def to_json(result: EvaluationResult) -> dict[str, Any]:
    return _jsonable(
        {
            "format": FORMAT,
            "started": result.started,
            "seconds": result.seconds,
            "config": result.config,
            "checkpoint": result.checkpoint,
            "machine": result.machine,
            "photos": result.photos,
            "feature_network": FEATURE_NETWORK,
            "fid_is": result.fid_is,
            "tasks": {
                task.task: {
                    "title": task.title,
                    "inputs": task.inputs,
                    "inputs_sha256": task.inputs_sha256,
                    "grid": grid_name(task.task),
                    "grid_sampler": task.preview.sampler,
                    "rows": [asdict(row) for row in task.rows],
                }
                for task in result.tasks
            },
        }
    )


def grid_name(task: str) -> str:
    return f"grid-{task}.png"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _number(value: float | None, spec: str) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return format(value, spec)


def _cell(row: RowResult, key: str, spec: str, best: bool) -> str:
    text = _number(row.metrics[key], spec)
    if key == "kid_effnetlite0" and row.metrics["kid_effnetlite0_std"] is not None:
        text += f" ± {_number(row.metrics['kid_effnetlite0_std'], '.2g')}"  # spread over subsets
    if best and row.samples_per_input > 1:
        text += f" / {_number(row.metrics[f'{key}_best_of_n'], spec)}"
    return text


def task_table(task: TaskResult, with_inception: bool) -> str:
    columns = COLUMNS + (INCEPTION_COLUMNS if with_inception else ())
    header = ["Method", *(title for _, title, _, _ in columns), "s/image ↓"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in task.rows:
        cells = [row.name, *(_cell(row, key, spec, best) for key, _, spec, best in columns)]
        cells.append(_number(row.seconds_per_image, ".3g"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _best_baseline(baselines: list[RowResult], measure: str) -> RowResult:
    def score(row: RowResult) -> float:
        value = row.metrics[measure]
        return -math.inf if value is None else value if PAIRED_MEASURES[measure] else -value

    return max(baselines, key=score)


# (measure, column header, format) of each paired measure, in PAIRED_MEASURES' order: for report.md's
# paired tables and palette compare's.
PAIRED_COLUMNS: tuple[tuple[str, str, str], ...] = tuple(
    (key, title, spec) for measure in PAIRED_MEASURES for key, title, spec, _ in COLUMNS if key == measure
)


def difference_text(difference: PairedDifference, spec: str) -> str:
    """'+0.0116 ± 0.0036': a paired mean difference with its standard error, when there is one."""
    error = "" if difference.standard_error is None else f" ± {format(difference.standard_error, spec)}"
    return f"{format(difference.mean, '+' + spec)}{error}"


def _paired_cell(model: RowResult, baselines: list[RowResult], measure: str, spec: str) -> str:
    best = _best_baseline(baselines, measure)
    difference = paired_difference(model.per_input[measure], best.per_input[measure])
    return f"{difference_text(difference, spec)} vs {best.name}"


def paired_table(task: TaskResult) -> str:
    """Each model row against the best baseline on each paired measure; "" without both kinds of row."""
    models = [row for row in task.rows if row.kind == "model"]
    baselines = [row for row in task.rows if row.kind == "baseline"]
    if not models or not baselines:
        return ""
    header = ["Method", *(title for _, title, _ in PAIRED_COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in models:
        cells = [_paired_cell(model, baselines, measure, spec) for measure, _, spec in PAIRED_COLUMNS]
        lines.append("| " + " | ".join([model.name, *cells]) + " |")
    return (
        f"Paired with the best baseline on each measure (mean difference over the {task.inputs} inputs "
        "± its standard error):\n\n" + "\n".join(lines)
    )


def to_markdown(result: EvaluationResult) -> str:
    config, checkpoint, machine = result.config, result.checkpoint, result.machine
    with_inception = config["inception"] is not None
    lines = [
        "# Palette evaluation",
        "",
        f"- Checkpoint: `{checkpoint['path']}` (sha256 `{checkpoint['sha256'][:16]}…`, "
        f"{checkpoint['parameters'] / 1e6:.1f} M parameters, {config['resolution']}x{config['resolution']})",
        f"- Data: `{config['data']}`: {_count(result.photos, 'photo')} x "
        f"{_count(config['crops_per_photo'], 'crop')} "
        f"(each {config['crop_fraction']:g} of the shorter side), seed {config['seed']}",
        f"- Samples per input: {config['samples']}; samplers: {', '.join(config['samplers'])}; "
        f"batch size {config['batch_size']}, {config['precision']}",
        f"- Machine: {machine['device']} ({machine.get('gpu', machine['processor'])}, "
        f"{machine['cpu_count']} CPUs), torch {machine['torch']}; started {result.started}, "
        f"took {result.seconds:.0f} s",
        f"- Feature network for FD/KID/perceptual: {FEATURE_NETWORK}",
        f"- {result.fid_is}",
        "",
    ]
    for task in result.tasks:
        paired = paired_table(task)
        lines += [
            f"## {task.task}: {task.title} ({task.inputs} inputs)",
            "",
            task_table(task, with_inception),
            "",
            *([paired, ""] if paired else []),
            f"![{task.task}]({grid_name(task.task)}) — each row: input | {config['samples']} samples "
            f"({task.preview.sampler}) | ground truth",
            "",
        ]
    return "\n".join(lines) + "\n" + NOTES


def write_report(result: EvaluationResult, out: Path) -> list[Path]:
    """Write report.json, report.md and one grid per task into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "report.md"]
    written[0].write_text(json.dumps(to_json(result), indent=2, allow_nan=False) + "\n")
    written[1].write_text(to_markdown(result))
    for task in result.tasks:
        path = out / grid_name(task.task)
        contact_sheet(task.preview.sources, task.preview.samples, task.preview.targets).save(path)
        written.append(path)
    return written

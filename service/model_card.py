"""What the served weights are and what they are good at, for ``GET /v1/model`` and the page: read from the
weights themselves, never written into the service. Without torch: a safetensors file starts with a JSON
header holding the tensors' shapes and the checkpoint's metadata (its config, its training step), and
``palette eval --out <weights folder>/eval`` leaves a report naming the sha256 of the weights it scored.

What the model is good at is derived from that report: per task and measure, the model's score against the
best classical baseline on the same inputs; a task counts as won only when every measure is (issue 12's
targets ask for a lower FD *and* a lower perceptual distance: a faint colour cast can win the first and
lose the second). A report made for other weights (another sha256) is ignored, so
retrained weights are never described by their predecessor's numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from model.sampler_settings import SamplerSettings
from model.tasks import get_task, task_names
from service.schemas import ModelEvaluation, ModelInfo, TaskScore

REPORT = Path("eval") / "report.json"  # beside the weights, as `palette eval --out` writes it
# Compared with the baselines, lower is better for both: the Fréchet distance of EfficientNet-Lite0 features
# over all samples, and the mean per-image perceptual distance on the same features.
MEASURES = ("fd_effnetlite0", "perceptual")
_DEFAULT = SamplerSettings()  # what a request naming no sampler runs
SERVICE_SAMPLER = f"{_DEFAULT.kind.value}:{_DEFAULT.steps}"
_MAX_HEADER_BYTES = 100 * 2**20


def read_header(path: Path) -> dict[str, Any]:
    """A safetensors file's JSON header (tensor shapes and ``__metadata__``); {} if it is not one."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER_BYTES:
                return {}
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError):
        return {}
    return header if isinstance(header, dict) else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _title(task: str) -> str:
    """'Inpainting' -> 'inpainting', 'JPEG restoration' stays as it is."""
    title = get_task(task).title if task in task_names() else task
    return title[0].lower() + title[1:] if title[1:2].islower() else title


def _listing(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def measure_score(task: str, report: Mapping[str, Any], measure: str) -> TaskScore | None:
    """On one measure, the model row of the service's default sampler (or the first model row) against the
    best baseline; None where the report lacks the measure."""
    rows = report.get("rows", [])
    models = [row for row in rows if row.get("kind") == "model" and measure in row.get("metrics", {})]
    baselines = [row for row in rows if row.get("kind") == "baseline" and measure in row.get("metrics", {})]
    if not models or not baselines:
        return None
    model = next((row for row in models if row["name"].endswith(f" {SERVICE_SAMPLER}")), models[0])
    best = min(baselines, key=lambda row: row["metrics"][measure])
    score, baseline_score = float(model["metrics"][measure]), float(best["metrics"][measure])
    if not (math.isfinite(score) and math.isfinite(baseline_score)):
        return None
    title = report.get("title")
    return TaskScore(
        task=task,
        condition=title if isinstance(title, str) else None,
        measure=measure,
        model=round(score, 4),
        baseline=str(best["name"]),
        baseline_score=round(baseline_score, 4),
        beats_baseline=score < baseline_score,
    )


def task_scores(task: str, report: Mapping[str, Any]) -> list[TaskScore]:
    """One score per measure of :data:`MEASURES` that the task's table has."""
    return [score for measure in MEASURES if (score := measure_score(task, report, measure))]


def read_evaluation(weights: Path) -> ModelEvaluation | None:
    """The evaluation report beside ``weights``, if it was made for exactly this file."""
    path = weights.parent / REPORT
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict) or report.get("checkpoint", {}).get("sha256") != _sha256(weights):
        return None
    scores = [
        score
        for task, results in report.get("tasks", {}).items()
        if isinstance(results, dict)
        for score in task_scores(task, results)
    ]
    if not scores:
        return None
    inputs = min(int(results.get("inputs", 0)) for results in report["tasks"].values())
    config = report.get("config", {})
    sampler = SERVICE_SAMPLER if SERVICE_SAMPLER in config.get("samplers", []) else "model"
    # `palette eval` scores crops of --size pixels, or of the model's resolution without it.
    size = _int(config.get("size") or config.get("resolution"))
    return ModelEvaluation(
        sampler=sampler, photos=_int(report.get("photos")), size=size, inputs_per_task=inputs, tasks=scores
    )


def summarise(evaluation: ModelEvaluation | None) -> str:
    """A sentence or two on what the weights are good at, from their evaluation only."""
    if evaluation is None:
        return (
            "No evaluation was found for these weights, so nothing is claimed about their quality: "
            "run `palette eval` to measure them against classical baselines."
        )
    verdicts: dict[str, bool] = {}  # per task (or condition), in the report's order: won on every measure
    for score in evaluation.tasks:
        name = score.condition or _title(score.task)
        verdicts[name] = verdicts.get(name, True) and score.beats_baseline
    better = [name for name, won in verdicts.items() if won]
    worse = [name for name, won in verdicts.items() if not won]
    photos = f"{evaluation.photos} held-out photos" if evaluation.photos else "held-out photos"
    crops = f", {evaluation.size}×{evaluation.size} crops" if evaluation.size else ""
    measured = f"On {photos} ({evaluation.inputs_per_task} inputs per task{crops})"
    if not better:
        if any(score.beats_baseline for score in evaluation.tasks):
            return (
                f"{measured} it beats the classical baselines on some measures but not all at "
                f"{_listing(worse)}."
            )
        return (
            f"{measured} it scores below simple classical baselines at every task it was measured on "
            f"({_listing(worse)}), so it shows the service working end to end rather than improving photos."
        )
    if not worse:
        everything = _listing(better)
        return (
            f"{measured} it beats the classical baselines on every measure at every task it was measured on "
            f"({everything})."
        )
    return (
        f"{measured} it beats the classical baselines on every measure at {_listing(better)}, "
        f"and not on every measure at {_listing(worse)}."
    )


def _parameters(header: Mapping[str, Any]) -> int | None:
    shapes = [entry.get("shape") for name, entry in header.items() if name != "__metadata__"]
    if not shapes or not all(isinstance(shape, list) for shape in shapes):
        return None
    return sum(math.prod(shape) for shape in shapes)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def describe_weights(weights: Path) -> ModelInfo:
    """Everything ``GET /v1/model`` says about ``weights``; what cannot be read is left out, not guessed."""
    header = read_header(weights)
    metadata = header.get("__metadata__") or {}
    try:
        config = json.loads(metadata.get("config", "{}"))
    except ValueError:
        config = {}
    config = config if isinstance(config, dict) else {}
    evaluation = read_evaluation(weights) if header else None
    tasks = config.get("tasks")
    return ModelInfo(
        weights=weights.name,
        resolution=_int(config.get("unet", {}).get("image_size")),
        parameters=_parameters(header),
        training_steps=_int(metadata.get("step")),
        tasks=[str(task) for task in tasks] if isinstance(tasks, list) else [],
        summary=summarise(evaluation),
        evaluation=evaluation,
    )

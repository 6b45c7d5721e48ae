"""One evaluation run: every requested task, every sampler and every baseline on the same inputs.

Rows are produced first (timed, nothing else running), then scored together input by input.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from model.evaluation.baselines import Baseline, baselines_for
from model.evaluation.conditions import Condition, conditions_for
from model.evaluation.features import FeatureExtractor
from model.evaluation.heldout import (
    CROP_FRACTION,
    Crop,
    EvalInput,
    degrade_all,
    inputs_fingerprint,
    load_crops,
)
from model.evaluation.inception import NOT_COMPUTED, Inception
from model.evaluation.scoring import Metrics, PerInput, score_rows
from model.fullres.run import run_arrays
from model.pipeline import Conditioning, PalettePipeline, Precision, Progress
from model.sampling import SamplerSettings
from model.tasks import get_task

PREVIEW_INPUTS = 8  # rows of the PNG grid


@dataclass(frozen=True)
class EvalSettings:
    """What ``palette eval`` was asked to do; ``tasks`` empty means every task the checkpoint knows."""

    weights: Path
    data: Path
    tasks: tuple[str, ...]
    samplers: tuple[SamplerSettings, ...]
    samples: int = 4
    crops: int = 4
    crop_fraction: float = CROP_FRACTION
    limit: int | None = None
    seed: int = 0
    batch_size: int = 16
    device: str = "auto"
    precision: Precision | None = None
    inception: Path | None = None
    # crops of size x size scored at that resolution through the full-resolution path the service takes
    # (model.fullres.run); None: crops at the model's resolution, sampled in one network pass each
    size: int | None = None


@dataclass(frozen=True)
class RowResult:
    """One line of a task's table: the model with one sampler, or a baseline."""

    name: str
    kind: str  # "model" or "baseline"
    sampler: dict[str, Any] | None
    samples_per_input: int
    seconds_per_image: float
    metrics: Metrics
    per_input: PerInput  # for paired differences between rows (model.evaluation.paired)


@dataclass(frozen=True)
class Preview:
    """What the grid shows: inputs, one sampler's samples, ground truths."""

    sampler: str
    sources: np.ndarray  # (k, H, W, 3)
    samples: np.ndarray  # (k, N, H, W, 3)
    targets: np.ndarray  # (k, H, W, 3)


@dataclass(frozen=True)
class TaskResult:
    """One condition's table (:mod:`model.evaluation.conditions`): a row per sampler, then a row per
    baseline."""

    task: str  # the condition's key, e.g. "inpaint-box16"
    title: str  # what the condition is, e.g. "centred box, 16% of the image"
    inputs: int
    inputs_sha256: str  # model.evaluation.heldout.inputs_fingerprint: equal means the same inputs
    rows: list[RowResult]
    preview: Preview


@dataclass(frozen=True)
class EvaluationResult:
    """Everything the report files are written from."""

    config: dict[str, Any]
    checkpoint: dict[str, Any]
    machine: dict[str, Any]
    started: str
    seconds: float
    photos: int
    fid_is: str  # how FID/IS were computed, or why not
    tasks: list[TaskResult]


def sampler_label(settings: SamplerSettings) -> str:
    """'ddim:50', or 'ddim:50:0.5' with a stochastic eta: the same syntax ``--sampler`` takes."""
    label = f"{settings.kind.value}:{settings.steps}"
    return f"{label}:{settings.eta:g}" if settings.eta else label


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def machine_info(device: torch.device) -> dict[str, Any]:
    """Enough to tell whether two reports' timings are comparable."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        # other processes competing for the CPU inflate every timing in the report
        "load_average_1_5_15_min": [round(load, 2) for load in os.getloadavg()],
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _advance(bar: tqdm, base: int) -> Progress:
    """A progress callback moving ``bar`` to ``base`` + the finished steps of the current batch."""

    def update(step: int, _total: int) -> None:
        bar.update(base + step - bar.n)

    return update


def sample_model(
    pipeline: PalettePipeline,
    inputs: Sequence[EvalInput],
    settings: SamplerSettings,
    samples: int,
    batch_size: int,
) -> tuple[np.ndarray, float]:
    """(inputs, samples, H, W, 3) samples and the wall time; sample k of an input uses seed input.seed + k,
    whatever the sampler, so samplers start from the same noise."""
    jobs = [(item, k) for item in inputs for k in range(samples)]
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    results = []
    started = time.perf_counter()
    with tqdm(total=len(batches) * settings.steps, desc=sampler_label(settings), unit="step") as bar:
        for index, batch in enumerate(batches):
            results.append(
                pipeline.sample(
                    [Conditioning(item.source, item.mask) for item, _ in batch],
                    [item.seed + k for item, k in batch],
                    settings,
                    progress=_advance(bar, index * settings.steps),
                )
            )
    elapsed = time.perf_counter() - started
    size = pipeline.resolution
    return np.concatenate(results).reshape(len(inputs), samples, size, size, 3), elapsed


def sample_full_resolution(
    pipeline: PalettePipeline, task: str, inputs: Sequence[EvalInput], settings: SamplerSettings, samples: int
) -> tuple[np.ndarray, float]:
    """:func:`sample_model` at the inputs' own size, through :func:`model.fullres.run.run_arrays` (tiles,
    coarse to fine, guided chroma: what ``palette sample`` and the service run); one call per input."""
    outputs = []
    started = time.perf_counter()
    for item in tqdm(inputs, desc=f"{sampler_label(settings)} full resolution", unit="input"):
        generate = None if item.mask.all() else item.mask
        images = run_arrays(
            pipeline, get_task(task), item.source, generate, settings, [item.seed + k for k in range(samples)]
        )
        outputs.append(np.stack([np.asarray(image.convert("RGB")) for image in images]))
    return np.stack(outputs), time.perf_counter() - started


def warm_up(pipeline: PalettePipeline, crop: Crop) -> None:
    """One untimed network call, so one-off costs (CUDA context, kernel selection, allocator growth) are
    not charged to whichever sampler row happens to come first."""
    size = pipeline.resolution
    image = np.ascontiguousarray(crop.image[:size, :size])
    if image.shape[:2] != (size, size):
        image = np.zeros((size, size, 3), dtype=np.uint8)
    pipeline.sample([Conditioning(image, np.ones((size, size), dtype=bool))], [0], SamplerSettings(steps=1))


def run_baseline(baseline: Baseline, inputs: Sequence[EvalInput]) -> tuple[np.ndarray, float]:
    """(inputs, 1, H, W, 3) outputs and the wall time."""
    started = time.perf_counter()
    outputs = np.stack([baseline.run(item.source, item.mask) for item in inputs])
    return outputs[:, None], time.perf_counter() - started


def evaluate_condition(
    condition: Condition,
    crops: list[Crop],
    pipeline: PalettePipeline,
    extractor: FeatureExtractor,
    inception: Inception | None,
    settings: EvalSettings,
) -> TaskResult:
    inputs = degrade_all(condition, crops, settings.seed)
    outputs: dict[str, np.ndarray] = {}
    rows: list[tuple[str, str, dict[str, Any] | None, float]] = []
    for sampler in settings.samplers:
        name = f"Palette {sampler_label(sampler)}"
        if settings.size is None:
            outputs[name], seconds = sample_model(
                pipeline, inputs, sampler, settings.samples, settings.batch_size
            )
        else:
            outputs[name], seconds = sample_full_resolution(
                pipeline, condition.task, inputs, sampler, settings.samples
            )
        described = {"kind": sampler.kind.value, "steps": sampler.steps, "eta": sampler.eta}
        rows.append((name, "model", described, seconds / (len(inputs) * settings.samples)))
    for baseline in baselines_for(condition.task):
        outputs[baseline.name], seconds = run_baseline(baseline, inputs)
        rows.append((baseline.name, "baseline", None, seconds / len(inputs)))
    scores = score_rows(inputs, outputs, extractor, inception, settings.seed)
    first = f"Palette {sampler_label(settings.samplers[0])}"
    shown = inputs[:PREVIEW_INPUTS]
    return TaskResult(
        task=condition.key,
        title=f"{condition.task}: {condition.title}",
        inputs=len(inputs),
        inputs_sha256=inputs_fingerprint(inputs),
        rows=[
            RowResult(
                name,
                kind,
                sampler,
                outputs[name].shape[1],
                per_image,
                scores[name].metrics,
                scores[name].per_input,
            )
            for name, kind, sampler, per_image in rows
        ],
        preview=Preview(
            sampler=sampler_label(settings.samplers[0]),
            sources=np.stack([item.source for item in shown]),
            samples=outputs[first][: len(shown)],
            targets=np.stack([item.target for item in shown]),
        ),
    )


@dataclass(frozen=True)
class EvalPlan:
    """Everything loaded and checked before the long part starts, so bad arguments fail in seconds."""

    settings: EvalSettings
    pipeline: PalettePipeline
    tasks: tuple[str, ...]
    crops: list[Crop]
    inception: Inception | None
    started_at: str
    started: float


def prepare(settings: EvalSettings) -> EvalPlan:
    """Load the checkpoint, the photos and the Inception weights; raises CheckpointError,
    FileNotFoundError or ValueError with a message meant for the user."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    pipeline = PalettePipeline.from_checkpoint(settings.weights, settings.device, settings.precision)
    tasks = settings.tasks or pipeline.config.tasks
    untrained = sorted(set(tasks) - set(pipeline.config.tasks))
    if untrained:
        known = ", ".join(pipeline.config.tasks)
        raise ValueError(f"the checkpoint was not trained for {', '.join(untrained)} (it knows {known})")
    crops = load_crops(
        settings.data,
        settings.size or pipeline.resolution,
        settings.crops,
        settings.crop_fraction,
        settings.seed,
        settings.limit,
    )
    inception = Inception(settings.inception, pipeline.device) if settings.inception else None
    return EvalPlan(settings, pipeline, tasks, crops, inception, started_at, started)


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, so that committed reports do not
    carry one machine's absolute paths."""
    resolved = path.resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else str(path)


def evaluate(plan: EvalPlan) -> EvaluationResult:
    """Run every task; the feature network is loaded here, on first use."""
    settings, pipeline = plan.settings, plan.pipeline
    warm_up(pipeline, plan.crops[0])
    extractor = FeatureExtractor(pipeline.device)
    tasks = [
        evaluate_condition(condition, plan.crops, pipeline, extractor, plan.inception, settings)
        for task in plan.tasks
        for condition in conditions_for(task)
    ]
    weights = shown_path(settings.weights)
    config = {
        "weights": weights,
        "data": str(settings.data),
        "tasks": list(plan.tasks),
        "samplers": [sampler_label(s) for s in settings.samplers],
        "samples": settings.samples,
        "crops_per_photo": settings.crops,
        "crop_fraction": settings.crop_fraction,
        "limit": settings.limit,
        "seed": settings.seed,
        "batch_size": settings.batch_size,
        "precision": pipeline.precision.value,
        "resolution": pipeline.resolution,
        "size": settings.size or pipeline.resolution,
        "full_resolution": settings.size is not None,
        "inception": str(settings.inception) if settings.inception else None,
    }
    return EvaluationResult(
        config=config,
        checkpoint={
            "path": weights,
            "sha256": file_sha256(settings.weights),
            "model_config": pipeline.config.to_dict(),
            "parameters": sum(p.numel() for p in pipeline.network.parameters()),
        },
        machine=machine_info(pipeline.device),
        started=plan.started_at,
        seconds=time.perf_counter() - plan.started,
        photos=len({crop.photo for crop in plan.crops}),
        fid_is=f"FID/IS: computed with {settings.inception}" if plan.inception else NOT_COMPUTED,
        tasks=tasks,
    )

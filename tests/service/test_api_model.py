"""GET /v1/model: what the served weights are, read from their own header, and what they are good at,
derived from an evaluation report made for exactly those weights (never written into the service)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from safetensors import safe_open

from jobs.settings import Settings
from service.app import create_app


@pytest.fixture
def weights(tmp_path: Path, tiny_checkpoint: Path) -> Path:
    """A checkpoint in a folder of its own, where `palette eval --out <folder>/eval` would put its report."""
    return Path(shutil.copy(tiny_checkpoint, tmp_path / "palette.safetensors"))


def describe(settings: Settings, weights: Path) -> dict[str, Any]:
    with TestClient(create_app(settings.model_copy(update={"weights": weights}))) as client:
        answer = client.get("/v1/model")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def rows(model_fd: float, baselines: dict[str, float]) -> list[dict[str, Any]]:
    """A task's rows in a `palette eval` report: the model with the service's default sampler, baselines."""
    return [
        {"name": "Palette ddim:50", "kind": "model", "metrics": {"fd_effnetlite0": model_fd, "psnr": 20.0}},
        *(
            {"name": name, "kind": "baseline", "metrics": {"fd_effnetlite0": fd, "psnr": 25.0}}
            for name, fd in baselines.items()
        ),
    ]


def write_report(
    weights: Path,
    tasks: dict[str, list[dict[str, Any]]],
    sha256: str | None = None,
    titles: dict[str, str] | None = None,
    size: int | None = None,
) -> None:
    report = {
        "format": "palette-eval/1",
        "config": {"samplers": ["ddim:50"], **({"size": size} if size else {})},
        "checkpoint": {"sha256": sha256 or hashlib.sha256(weights.read_bytes()).hexdigest()},
        "photos": 6,
        "tasks": {
            task: {"inputs": 24, "rows": task_rows, **({"title": titles[task]} if titles else {})}
            for task, task_rows in tasks.items()
        },
    }
    (weights.parent / "eval").mkdir()
    (weights.parent / "eval" / "report.json").write_text(json.dumps(report))


def test_the_model_is_described_from_its_checkpoint_header(settings: Settings, weights: Path) -> None:
    with safe_open(str(weights), framework="numpy") as handle:
        parameters = sum(handle.get_tensor(name).size for name in handle.keys())  # noqa: SIM118
    model = describe(settings, weights)
    assert model["weights"] == "palette.safetensors"
    assert model["resolution"] == 32
    assert model["parameters"] == parameters
    assert set(model["tasks"]) >= {"inpaint", "colorize", "uncrop", "restore"}


def test_without_an_evaluation_of_these_weights_nothing_is_claimed(settings: Settings, weights: Path) -> None:
    model = describe(settings, weights)
    assert model["evaluation"] is None
    assert model["summary"].startswith("No evaluation was found for these weights")


def test_an_evaluation_made_for_other_weights_is_ignored(settings: Settings, weights: Path) -> None:
    write_report(weights, {"inpaint": rows(50.0, {"OpenCV Telea": 90.0})}, sha256="0" * 64)
    assert describe(settings, weights)["evaluation"] is None


def test_the_tasks_where_the_model_beats_the_best_baseline_are_named(
    settings: Settings, weights: Path
) -> None:
    write_report(
        weights,
        {
            "inpaint": rows(50.0, {"OpenCV Telea": 90.0, "OpenCV Navier-Stokes": 80.0}),
            "colorize": rows(200.0, {"grayscale input": 90.0}),
        },
    )
    model = describe(settings, weights)
    assert model["summary"] == (
        "On 6 held-out photos (24 inputs per task) it beats the classical baselines on every measure at "
        "inpainting, and not on every measure at colorization."
    )
    scores = {score["task"]: score for score in model["evaluation"]["tasks"]}
    assert scores["inpaint"] == {
        "task": "inpaint",
        "condition": None,
        "measure": "fd_effnetlite0",
        "model": 50.0,
        "baseline": "OpenCV Navier-Stokes",
        "baseline_score": 80.0,
        "beats_baseline": True,
    }
    assert scores["colorize"]["beats_baseline"] is False


def test_a_model_below_every_baseline_is_said_to_show_the_service_not_to_improve_photos(
    settings: Settings, weights: Path
) -> None:
    write_report(weights, {"restore": rows(265.0, {"JPEG input": 211.0})})
    assert describe(settings, weights)["summary"] == (
        "On 6 held-out photos (24 inputs per task) it scores below simple classical baselines at every task "
        "it was measured on (JPEG restoration), so it shows the service working end to end rather than "
        "improving photos."
    )


def test_tables_of_a_task_on_one_condition_are_named_by_that_condition(
    settings: Settings, weights: Path
) -> None:
    write_report(
        weights,
        {"restore-q10": rows(150.0, {"JPEG input": 211.0})},
        titles={"restore-q10": "restore: JPEG quality 10"},
    )
    model = describe(settings, weights)
    assert model["evaluation"]["tasks"][0]["condition"] == "restore: JPEG quality 10"
    assert "on every measure at every task it was measured on (restore: JPEG quality 10)" in model["summary"]


def test_the_summary_names_the_size_of_the_crops_the_evaluation_scored(
    settings: Settings, weights: Path
) -> None:
    write_report(weights, {"restore": rows(150.0, {"JPEG input": 211.0})}, size=64)
    model = describe(settings, weights)
    assert model["evaluation"]["size"] == 64
    assert model["summary"].startswith("On 6 held-out photos (24 inputs per task, 64×64 crops) it beats")


def test_a_task_counts_as_won_only_when_fd_and_perceptual_distance_both_beat_the_baselines(
    settings: Settings, weights: Path
) -> None:
    tinted = rows(95.0, {"grayscale input": 100.0})  # a colour cast: better FD ...
    tinted[0]["metrics"]["perceptual"] = 0.36  # ... but a worse perceptual distance than the input
    tinted[1]["metrics"]["perceptual"] = 0.34
    write_report(weights, {"colorize": tinted})
    model = describe(settings, weights)
    scores = {score["measure"]: score for score in model["evaluation"]["tasks"]}
    assert scores["fd_effnetlite0"]["beats_baseline"] is True
    assert scores["perceptual"]["beats_baseline"] is False
    assert model["summary"] == (
        "On 6 held-out photos (24 inputs per task) it beats the classical baselines on some measures but not "
        "all at colorization."
    )

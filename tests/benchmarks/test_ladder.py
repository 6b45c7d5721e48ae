"""benchmarks/ladder.py: every variant is a training config that differs from the ladder's base only in
its recipe, and finished runs become one table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from model.config import Target
from model.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ladder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ladder", REPO / "benchmarks" / "ladder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ladder"] = module
    spec.loader.exec_module(module)
    return module


def test_every_variant_changes_the_recipe_and_nothing_else(ladder: ModuleType) -> None:
    base = TrainConfig.load(ladder.BASE_CONFIG)
    for name, (_, overrides) in ladder.VARIANTS.items():
        config = TrainConfig.load(ladder.BASE_CONFIG, overrides)
        assert config.data == base.data and config.optimizer == base.optimizer, name
        assert config.steps == base.steps and config.batch_size == base.batch_size, name
        assert (config.model == base.model) == (name == "paper"), name


def test_the_default_variant_is_the_recipe_of_the_default_config(ladder: ModuleType) -> None:
    residual = TrainConfig.load(ladder.BASE_CONFIG, ladder.VARIANTS[ladder.DEFAULT_VARIANT][1]).model
    default = TrainConfig.load(REPO / "configs" / "residual-64.json").model
    assert residual == default
    assert default.diffusion.target is Target.RESIDUAL


def test_the_table_has_a_row_per_variant_and_condition(ladder: ModuleType, tmp_path: Path) -> None:
    def metrics(psnr: float, perceptual: float, fd: float) -> dict[str, float]:
        return {"psnr": psnr, "perceptual": perceptual, "fd_effnetlite0": fd}

    rows = [
        {"name": "Palette ddim:1", "kind": "model", "metrics": metrics(24.0, 0.5, 90)},
        {"name": "JPEG input", "kind": "baseline", "metrics": metrics(23.0, 0.7, 99)},
    ]
    for variant in ("paper", "residual"):
        (tmp_path / variant / "eval").mkdir(parents=True)
        report = {"tasks": {"restore-q10": {"rows": rows}}}
        (tmp_path / variant / "eval" / "report.json").write_text(json.dumps(report))
    lines = ladder.table(tmp_path).splitlines()
    assert lines[2:] == [
        "| paper | restore-q10 | 24.00 / 0.500 / 90.0 | - | JPEG input: 23.00 / 0.700 / 99.0 |",
        "| residual | restore-q10 | 24.00 / 0.500 / 90.0 | - | JPEG input: 23.00 / 0.700 / 99.0 |",
    ]

"""The README's sampler table states the step count a request gets when it names none: it must be the one
the API and the workers use (``model.fullres.defaults``), task overrides included."""

from __future__ import annotations

import re
from pathlib import Path

from model.fullres.defaults import default_steps
from model.sampler_settings import SamplerKind
from model.tasks import task_names

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented_steps() -> dict[str, str]:
    """The "Default steps" cell of each sampler's row in the README's sampler table."""
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", README.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {name: cell.strip() for name, cell in rows if name in {kind.value for kind in SamplerKind}}


def _expected_cell(kind: SamplerKind) -> str:
    overrides = [
        f"{task}: {default_steps(task, kind)}"
        for task in sorted(task_names())
        if default_steps(task, kind) != kind.default_steps
    ]
    return f"{kind.default_steps} ({', '.join(overrides)})" if overrides else str(kind.default_steps)


def test_the_readme_states_every_samplers_default_steps_as_the_service_applies_them() -> None:
    assert _documented_steps() == {kind.value: _expected_cell(kind) for kind in SamplerKind}

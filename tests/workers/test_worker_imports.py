"""The workers and the job protocol load what they use: a worker never imports the web stack, and the jobs
package neither the web stack nor torch (the API imports it too)."""

from __future__ import annotations

import subprocess
import sys

import pytest

WEB_STACK = ("fastapi", "starlette")


def loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return run.stdout.split()


@pytest.mark.parametrize("module", ["workers.worker", "workers.cli"])
def test_a_worker_never_imports_fastapi_or_starlette(module: str) -> None:
    assert loaded_after(f"import {module}", WEB_STACK) == []


def test_the_jobs_package_imports_neither_the_web_stack_nor_torch() -> None:
    statement = "import jobs.images, jobs.metrics, jobs.payload, jobs.queue, jobs.settings, jobs.store"
    assert loaded_after(statement, (*WEB_STACK, "torch")) == []

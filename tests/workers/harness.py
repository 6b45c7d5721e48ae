"""What the worker's tests observe of a real worker without changing what it does."""

from __future__ import annotations

from typing import Any

from model.runtime.progress import Progress
from workers.worker import BatchWorker


def tap_progress(worker: BatchWorker) -> list[tuple[int, int]]:
    """Every progress report the worker's engine makes from now on, as (tile-steps done, in all): the
    model reports after each network call, so the differences are the tiles each call evaluated."""
    reports: list[tuple[int, int]] = []
    sample = worker.engine.sample

    def observed(jobs: Any, progress: Progress) -> Any:
        def tap(done: int, total: int) -> None:
            reports.append((done, total))
            progress(done, total)

        return sample(jobs, tap)

    worker.engine.sample = observed  # type: ignore[method-assign]
    return reports

"""Per-task defaults of full-resolution sampling: the one table the API (and through it the page), the
workers, ``palette sample`` and ``palette eval`` read. No torch.

- ``steps``: a request's steps when it names none, per sampler. Restoration runs at full resolution on
  every tile, from the JPEG: DDIM 10 walks the last 15% of a 10-step schedule, 2 network evaluations per
  tile, which on 256x256 crops matched the JPEG's PSNR and beat its FD and perceptual distance, where a
  single step from (almost) pure noise did not (model/weights/README.md). The other tasks take the
  sampler's own defaults (DDIM: the one-step estimate).
- ``start``: the fraction of the sampler's schedule the full-resolution pass of restoration runs (SDEdit):
  it starts from the JPEG itself, partially noised, rather than from pure noise; JPEG artefacts are small
  and local, so the last part of the schedule is where they are removed.
- ``refine_start``: the same fraction for the refinement of inpainting and uncropping, which starts from
  the coarse sample upsampled into the hole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from model.sampler_settings import SamplerKind


@dataclass(frozen=True)
class TaskDefaults:
    steps: Mapping[SamplerKind, int] = field(default_factory=dict)
    start: float = 1.0
    refine_start: float = 0.2
    overlap: float = 0.25  # fraction of a tile neighbours share (seams: tests/model/test_fullres_seams.py)

    def default_steps(self, kind: SamplerKind) -> int:
        return self.steps.get(kind, kind.default_steps)


TASK_DEFAULTS: dict[str, TaskDefaults] = {
    "restore": TaskDefaults(
        steps={SamplerKind.DDPM: 100, SamplerKind.DDIM: 10, SamplerKind.DPMPP_2M: 10}, start=0.15
    ),
    "inpaint": TaskDefaults(refine_start=0.2),
    "uncrop": TaskDefaults(refine_start=0.2),
    "colorize": TaskDefaults(),
}


def task_defaults(task: str) -> TaskDefaults:
    """The table's entry for ``task``; a task added later gets the samplers' own defaults."""
    return TASK_DEFAULTS.get(task, TaskDefaults())


def default_steps(task: str, kind: SamplerKind) -> int:
    return task_defaults(task).default_steps(kind)

"""Per-task defaults of full-resolution sampling: the one table the API (and through it the page), the
workers, ``palette sample`` and ``palette eval`` read. No torch.

- ``start``: where restoration's full-resolution pass begins, as the cleanest fraction of the sampling
  schedule (SDEdit's t0; :func:`model.diffusion.schedule.sampling_gammas`): from the JPEG itself noised to
  that level (0.3: sigma 0.32 on the bundled schedule), rather than from pure noise. JPEG artefacts are
  small and local; from pure noise the network's one-step estimate fell below the JPEG, from sigma 0.32 it
  rose above it (the level was chosen on 12 training photos at 256x256, 0.2 to 0.5 tried; the model card).
- ``refine_start``: the same for the refinement at full resolution that follows a coarse pass. Inpainting
  and uncropping start it from the coarse sample upsampled into the hole: 0.65 (sigma 8.6) keeps the coarse
  sample's layout and redraws its detail (better perceptual distance and FD than 1.0, pure noise, or 0.4
  and 0.5, on 10 training photos). Colorization starts it from the coarse colour under the upload's own
  luminance: 0.3 (sigma 0.32) keeps the colours and lets every tile put them where its details are; on 80
  training photos at 256x256 (DDIM-1) it lowered the perceptual distance from 0.298 to 0.284 (paired
  -0.0149 +- 0.0021) and the FD from 83.8 to 71.9 against the coarse colour alone (0.25: 0.287, 0.35: 0.293;
  refined at 128 and upsampled: 0.289).
- ``steps``: a request's steps when it names none, per sampler. A partial start spends all of them below
  its level; restoration's one DDIM step from sigma 0.32 scored as well as two, three DPM-Solver++ or ten
  ancestral steps do the same span. The other tasks take the sampler's own defaults (DDIM: the one-step
  estimate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from model.sampler_settings import SamplerKind


@dataclass(frozen=True)
class TaskDefaults:
    steps: Mapping[SamplerKind, int] = field(default_factory=dict)
    start: float = 1.0
    refine_start: float = 1.0
    overlap: float = 0.25  # fraction of a tile neighbours share (seams: tests/model/test_fullres_seams.py)

    def default_steps(self, kind: SamplerKind) -> int:
        return self.steps.get(kind, kind.default_steps)


TASK_DEFAULTS: dict[str, TaskDefaults] = {
    "restore": TaskDefaults(steps={SamplerKind.DDPM: 10, SamplerKind.DPMPP_2M: 3}, start=0.3),
    "inpaint": TaskDefaults(refine_start=0.65),
    "uncrop": TaskDefaults(refine_start=0.65),
    "colorize": TaskDefaults(refine_start=0.3),
}


def task_defaults(task: str) -> TaskDefaults:
    """The table's entry for ``task``; a task added later gets the samplers' own defaults."""
    return TASK_DEFAULTS.get(task, TaskDefaults())


def default_steps(task: str, kind: SamplerKind) -> int:
    return task_defaults(task).default_steps(kind)

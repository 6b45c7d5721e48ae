"""Which sampler to run and how: plain values, no torch, so the API process can validate requests with the
same enum the workers sample with."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SamplerKind(enum.StrEnum):
    DDPM = "ddpm"  # the paper's ancestral chain (1000 steps by default)
    DDIM = "ddim"
    DPMPP_2M = "dpmpp_2m"

    @property
    def default_steps(self) -> int:
        return {SamplerKind.DDPM: 1000, SamplerKind.DDIM: 50, SamplerKind.DPMPP_2M: 20}[self]


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample; requests with equal settings can share a batch."""

    kind: SamplerKind = SamplerKind.DDIM
    steps: int = 50
    eta: float = 0.0  # DDIM only

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError("eta must be between 0 and 1")
        if self.eta and self.kind is not SamplerKind.DDIM:
            raise ValueError("eta applies to the ddim sampler only")


def partial_steps(steps: int, start: float) -> int:
    """Network evaluations of a sampler of ``steps`` steps started at the fraction ``start`` of its schedule
    (1 = the whole schedule, from pure noise; 0.3 = its last 30%, from a partially noised image: SDEdit)."""
    if not 0.0 < start <= 1.0:
        raise ValueError(f"start must be in (0, 1], got {start}")
    return steps if start >= 1.0 else max(1, round(steps * start))

"""Which sampler to run and how: plain values, no torch, so that one typed value goes from the API's form
through the queue to the worker (and is the key that batches jobs), and the API process validates requests
with the very rules the workers sample with."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SamplerKind(enum.StrEnum):
    DDPM = "ddpm"  # the paper's ancestral chain (1000 steps by default)
    DDIM = "ddim"
    DPMPP_2M = "dpmpp_2m"

    @property
    def default_steps(self) -> int:
        """Steps when a request names none (per-task overrides: ``model.fullres.defaults``). DDIM's is the
        one the evaluation of the bundled weights supports: their one-step estimate (the fast mode) scores
        better than 10 or 25 steps on every task at 64x64 (model/weights/README.md), because more steps
        add grain the network, trained on two CPU cores, does not yet remove."""
        return {SamplerKind.DDPM: 1000, SamplerKind.DDIM: 1, SamplerKind.DPMPP_2M: 20}[self]

    @property
    def takes_eta(self) -> bool:
        """Whether the sampler has a stochasticity ``eta``: DDIM only (0 deterministic, 1 ancestral)."""
        return self is SamplerKind.DDIM

    @property
    def description(self) -> str:
        return {
            SamplerKind.DDPM: "the paper's ancestral chain (respaced when fewer steps are asked for)",
            SamplerKind.DDIM: "DDIM, eta 0 (deterministic) to 1 (the ancestral variance)",
            SamplerKind.DPMPP_2M: "DPM-Solver++(2M), second order, log-SNR spacing: fewer steps",
        }[self]


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample; requests with equal settings can share a batch (the value is the batch key)."""

    kind: SamplerKind = SamplerKind.DDIM
    steps: int = SamplerKind.DDIM.default_steps
    eta: float = 0.0  # samplers that take it only (SamplerKind.takes_eta)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError("eta must be between 0 and 1")
        if self.eta and not self.kind.takes_eta:
            takers = " and ".join(kind.value for kind in SamplerKind if kind.takes_eta)
            raise ValueError(f"eta applies to the {takers} sampler only, not {self.kind.value}")

"""The one interface every sampler is written against, and the pieces samplers share.

A *denoiser* maps a noisy batch y_t and its per-example noise levels gamma (B,) to the predicted clean
image y_0 (k-diffusion's convention: samplers never see what the network predicts internally).
Conditioning travels in ``extra_args``, so a sampler is a pure function that batches anything.

Every sampler here moves from y_t to the next level by one linear update,
    y_next = c_y y_t + c_d d + c_p d_prev + s z        (d: this step's y_0 estimate, d_prev: the last
                                                        step's, z ~ N(0, I))
whose coefficients depend only on the levels, never on the data. Each sampler's module defines its
coefficients (float64, one per step); :func:`run_steps` is the readable loop over them, and the fast path
(:mod:`model.runtime.step`) tabulates the same coefficients and applies the same :func:`estimate_y0` and
:func:`linear_update` in one fused step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypedDict

import torch
from torch import Tensor

from model.config import Prediction, Target
from model.diffusion.process import Y0Coefficients, expand, y0_coefficients
from model.diffusion.target import clip_estimate


class Denoiser(Protocol):
    def __call__(self, y_t: Tensor, gamma: Tensor, **extra_args: Any) -> Tensor: ...


class StepInfo(TypedDict):
    """What a sampler reports to its callback after each network evaluation."""

    step: int  # 1-based count of finished steps
    total: int
    y: Tensor  # current sample
    denoised: Tensor  # the denoiser's y_0 prediction at this step


Callback = Callable[[StepInfo], None]
NoiseSampler = Callable[[Tensor], Tensor]  # returns fresh N(0, I) noise shaped like its argument


class ConditionalNetwork(Protocol):
    def __call__(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor: ...


def estimate_y0(
    output: Tensor,
    y_t: Tensor,
    k: Y0Coefficients,
    source: Tensor,
    target: Target,
    *,
    clip: bool = True,
) -> Tensor:
    """The y_0 estimate a network ``output`` stands for, k_y y_t + k_o output
    (:func:`model.diffusion.process.y0_coefficients`: eps, v or y0 predictions, EDM's preconditioned
    output being a y0 one), in y_t's dtype. ``k`` holds per-example (B,) or single (0-d) coefficients.

    ``clip`` clamps the estimate so the image it stands for is in the data range [-1, 1], as Palette's
    sampler does; it matters for the noisiest steps, where an eps prediction's y_0 divides by almost zero.
    ``target`` says whether y is the image or its residual over ``source`` (:mod:`model.diffusion.target`).
    """
    y0 = expand(k.k_y, y_t) * y_t + expand(k.k_o, y_t) * output
    return clip_estimate(y0, source, target) if clip else y0


def network_denoiser(
    network: ConditionalNetwork,
    prediction: Prediction,
    *,
    clip: bool = True,
    target: Target = Target.IMAGE,
) -> Denoiser:
    """Wrap a Palette network as a denoiser (:func:`estimate_y0` of its output). ``extra_args`` must hold
    ``source`` and ``mask``. Images stay in float32; the coefficients are formed from gamma in float64."""

    def denoise(y_t: Tensor, gamma: Tensor, **extra_args: Any) -> Tensor:
        source, mask = extra_args["source"], extra_args["mask"]
        output = network(source, mask, y_t, gamma.float()).float()
        return estimate_y0(output, y_t, y0_coefficients(gamma, prediction), source, target, clip=clip)

    return denoise


class StepCoefficients(NamedTuple):
    """y_next = c_y y_t + c_d d + c_p d_prev + s z, one value per step (..., S) in float64, or one step's."""

    c_y: Tensor
    c_d: Tensor
    c_p: Tensor
    s: Tensor

    def at(self, step: int) -> StepCoefficients:
        return StepCoefficients(*(values[..., step] for values in self))

    def to(self, device: torch.device) -> StepCoefficients:
        return StepCoefficients(*(values.to(device) for values in self))

    def noisy(self) -> tuple[bool, ...]:
        """Per step, whether it adds fresh noise (s != 0 for any example)."""
        return tuple((self.s != 0).reshape(-1, self.s.shape[-1]).any(dim=0).tolist())


def linear_update(c: StepCoefficients, y: Tensor, d: Tensor, d_prev: Tensor, z: Tensor | None) -> Tensor:
    """One step's update with its coefficients ``c`` (per example (B,), or 0-d), in y's dtype; ``z`` may be
    left out on a step without noise."""
    y_next = expand(c.c_y, y) * y + expand(c.c_d, y) * d + expand(c.c_p, y) * d_prev
    return y_next if z is None else y_next + expand(c.s, y) * z


@dataclass(frozen=True)
class KnownPixels:
    """Pixels the sample must keep exactly (inpainting, uncropping): where ``mask`` is 0, ``values``."""

    values: Tensor
    mask: Tensor  # (B, 1, H, W), 1 = generate

    def apply(self, y: Tensor) -> Tensor:
        return torch.where(self.mask > 0.5, y, self.values)


def keep_known(y: Tensor, known: KnownPixels | None) -> Tensor:
    return y if known is None else known.apply(y)


@torch.no_grad()
def run_steps(
    denoiser: Denoiser,
    y: Tensor,
    gammas: Tensor,
    coefficients: StepCoefficients,
    *,
    noise: NoiseSampler | None = None,
    extra_args: dict[str, Any] | None = None,
    known: KnownPixels | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Walk ``gammas`` ((S+1,) or (B, S+1), noisiest first, ending at 1) from ``y`` with a sampler's
    ``coefficients`` ((S,) or (B, S) each, from the same levels); noise is drawn on the steps that add it."""
    extra_args = extra_args or {}
    levels = per_example(gammas, y.shape[0], y.device)
    total = levels.shape[1] - 1
    noisy = coefficients.noisy()
    if any(noisy) and noise is None:
        raise ValueError("this sampler adds noise: it needs a noise sampler")
    coefficients = coefficients.to(y.device)
    y = keep_known(y, known)
    d_prev = torch.zeros_like(y)
    for i in range(total):
        denoised = denoiser(y, levels[:, i], **extra_args)
        z = noise(y) if noisy[i] and noise is not None else None
        y = keep_known(linear_update(coefficients.at(i), y, denoised, d_prev, z), known)
        d_prev = denoised
        if callback is not None:
            callback({"step": i + 1, "total": total, "y": y, "denoised": denoised})
    return y


class PerExampleNoise:
    """N(0, I) noise where example i is drawn from its own generator.

    The noise an example receives depends only on its own seed, never on its position in the batch or on
    what else is in the batch: the same seed reproduces the same image however the worker batched it.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device | str) -> None:
        self.generators = []
        for seed in seeds:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed))
            self.generators.append(generator)

    def __call__(self, like: Tensor) -> Tensor:
        if like.shape[0] != len(self.generators):
            raise ValueError(f"batch of {like.shape[0]} but {len(self.generators)} seeds")
        return torch.stack(
            [
                torch.randn(like.shape[1:], generator=g, device=like.device, dtype=torch.float32)
                for g in self.generators
            ]
        ).to(like.dtype)


def per_example(levels: Tensor, batch: int, device: torch.device) -> Tensor:
    """Noise levels (S+1,) shared by the batch, or (B, S+1) per example -> (B, S+1) float64 on device."""
    levels = levels.to(device=device, dtype=torch.float64)
    if levels.ndim == 1:
        return levels.expand(batch, -1)
    if levels.shape[0] != batch:
        raise ValueError(f"per-example gammas for {levels.shape[0]} examples, batch has {batch}")
    return levels

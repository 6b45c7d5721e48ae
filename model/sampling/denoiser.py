"""The one interface every sampler is written against, and the pieces samplers share.

A *denoiser* maps a noisy batch y_t and its per-example noise levels gamma (B,) to the predicted clean
image y_0 (k-diffusion's convention: samplers never see what the network predicts internally).
Conditioning travels in ``extra_args``, so a sampler is a pure function that batches anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

import torch
from torch import Tensor

from model.config import Prediction, Target
from model.diffusion import process
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


def network_denoiser(
    network: ConditionalNetwork,
    prediction: Prediction,
    *,
    clip: bool = True,
    target: Target = Target.IMAGE,
) -> Denoiser:
    """Wrap a Palette network as a denoiser. ``extra_args`` must hold ``source`` and ``mask``.

    Images stay in float32; the per-example coefficients are formed from gamma in float64.

    ``clip`` clamps the y_0 prediction so the image it stands for is in the data range [-1, 1], as
    Palette's sampler does; it matters for the noisiest steps, where y_0 = (y_t - sqrt(1-g) eps) / sqrt(g)
    divides by almost zero. ``target`` says whether y is the image or its residual over the source.
    """

    def denoise(y_t: Tensor, gamma: Tensor, **extra_args: Any) -> Tensor:
        source, mask = extra_args["source"], extra_args["mask"]
        output = network(source, mask, y_t, gamma.float()).float()
        gamma64 = gamma.double()
        if prediction is Prediction.EPS:
            y0 = process.y0_from_eps(y_t, gamma64, output)
        elif prediction is Prediction.V:
            y0 = process.y0_from_v(y_t, gamma64, output)
        else:
            y0 = output
        return clip_estimate(y0, source, target) if clip else y0

    return denoise


@dataclass(frozen=True)
class KnownPixels:
    """Pixels the sample must keep exactly (inpainting, uncropping): where ``mask`` is 0, ``values``."""

    values: Tensor
    mask: Tensor  # (B, 1, H, W), 1 = generate

    def apply(self, y: Tensor) -> Tensor:
        return torch.where(self.mask > 0.5, y, self.values)


def keep_known(y: Tensor, known: KnownPixels | None) -> Tensor:
    return y if known is None else known.apply(y)


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

"""One sampler step as a single function of static buffers: network call plus the fused update of
:mod:`model.runtime.step_table`. Its signature is what compilation and CUDA-graph capture work on."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from model.config import Target
from model.diffusion.target import clip_estimate, known_values
from model.runtime.backend import Network
from model.runtime.channels_last import laid_out
from model.runtime.precision import Precision, autocast
from model.runtime.step_table import C_D, C_P, C_Y, GAMMA, K_O, K_Y, S

# (y, d_prev, z, row, source, mask) -> (y_next, d)
StepFunction = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def fused_step(
    network: Network,
    device: torch.device,
    precision: Precision,
    *,
    channels_last: bool,
    target: Target = Target.IMAGE,
) -> StepFunction:
    """The step for ``network`` (the module, or its export in another runtime: :mod:`model.runtime.backend`):
    only the network runs in ``precision``; the update is float32, with the known pixels (mask 0) put back
    exactly, as :class:`model.sampling.KnownPixels` does. ``target`` says what ``y`` is
    (:mod:`model.diffusion.target`): the image, or its residual over ``source``."""

    def step(
        y: Tensor, d_prev: Tensor, z: Tensor, row: Tensor, source: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        gamma = row[GAMMA].expand(y.shape[0])
        with autocast(device, precision):
            output = network(
                laid_out(source, channels_last),
                laid_out(mask, channels_last),
                laid_out(y, channels_last),
                gamma,
            )
        d = clip_estimate(row[K_Y] * y + row[K_O] * output.float(), source, target)
        y_next = row[C_Y] * y + row[C_D] * d + row[C_P] * d_prev + row[S] * z
        return torch.where(mask > 0.5, y_next, known_values(source, target)), d

    return step

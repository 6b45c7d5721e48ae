"""Palette's training objective: E w(g) ||f(x, sqrt(g) y_0 + sqrt(1-g) eps, g) - target||_p.

gamma is drawn per example either as Palette (and WaveGrad) do, a level t uniform over the schedule, then
gamma uniform between gamma_t and gamma_{t-1}, so the network learns a continuum of noise levels, not N of
them; or as EDM does, ln(sigma) normal with sigma = sqrt((1-g)/g), which spends the examples on the middle
and low noise levels where a restoration's detail is decided instead of on near-pure noise. Either way a
share of the examples may instead sit at the level every sampler starts from (``start_level_fraction``),
so that the first step, and with it the one-step estimate, is trained as often as it is used; with
``task_start_levels`` that level is each example's task's own start, and a partial start (restoration's) is
noised from the source, as its sampler noises it, rather than from the truth the sampler never sees.
Only the pixels to generate (mask = 1) are noised and scored: known pixels stay clean, exactly as the
samplers keep them. What is diffused is the image or its residual over the source (:mod:`.target`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from model.config import DiffusionConfig, LossType, LossWeighting, NoiseLevels, Prediction
from model.diffusion import process
from model.diffusion.schedule import gamma_from_sigma, gammas, sampling_gammas, sigma_from_gamma
from model.diffusion.target import to_diffused
from model.nn.preconditioning import edm_loss_weight

Network = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (source, mask, y_t, gamma) -> output


class NoiseDraw(NamedTuple):
    """A batch's noise levels, and which examples are noised from their source instead of their truth."""

    gamma: Tensor  # (B,) float64
    from_source: Tensor  # (B,) bool


class TrainingObjective:
    """Draws noise levels and computes the loss for a batch. Holds the schedule on the training device."""

    def __init__(self, config: DiffusionConfig, device: torch.device | str = "cpu") -> None:
        self.config = config
        levels = gammas(config.train_schedule)
        # gamma_0 = 1 prepended, so that level t draws from [gamma_t, gamma_{t-1}] for every t in 1..N.
        self.levels = torch.cat([torch.ones(1, dtype=torch.float64), levels]).to(device)
        self.start_level = gammas(config.sample_schedule)[-1].to(device)

    def sample_levels(
        self, batch: int, generator: torch.Generator | None = None, starts: Tensor | None = None
    ) -> NoiseDraw:
        """Per-example noise levels: the configured distribution, then a ``start_level_fraction`` share
        moved to the level sampling starts from. ``starts`` (B,) is each example's task's start as a
        fraction of the sampling schedule (1: pure noise); it is used only with ``task_start_levels``.
        Without a start share no extra random number is drawn, so runs of older configs resume on the
        same stream."""
        gamma = self._distributed_gamma(batch, generator)
        none = torch.zeros(batch, dtype=torch.bool, device=gamma.device)
        fraction = self.config.start_level_fraction
        if fraction == 0.0:
            return NoiseDraw(gamma, none)
        at_start = torch.rand(batch, device=gamma.device, dtype=torch.float64, generator=generator) < fraction
        if starts is None or not self.config.task_start_levels:
            return NoiseDraw(torch.where(at_start, self.start_level, gamma), none)
        starts = starts.to(gamma.device, torch.float64)
        return NoiseDraw(torch.where(at_start, self._start_gammas(starts), gamma), at_start & (starts < 1.0))

    def _start_gammas(self, starts: Tensor) -> Tensor:
        """The first level of a sampler started at each of ``starts``: it depends on the start alone."""
        levels = {
            start: sampling_gammas(self.config.sample_schedule, 1, start=start)[0].item()
            for start in starts.unique().tolist()
        }
        return torch.tensor(
            [levels[start] for start in starts.tolist()], dtype=torch.float64, device=starts.device
        )

    def _distributed_gamma(self, batch: int, generator: torch.Generator | None) -> Tensor:
        device = self.levels.device
        if self.config.noise_levels is NoiseLevels.LOG_NORMAL:
            normal = torch.randn(batch, device=device, dtype=torch.float64, generator=generator)
            return gamma_from_sigma((self.config.p_mean + self.config.p_std * normal).exp())
        n = self.levels.numel() - 1
        t = torch.randint(1, n + 1, (batch,), device=device, generator=generator)
        u = torch.rand(batch, device=device, dtype=torch.float64, generator=generator)
        low, high = self.levels[t], self.levels[t - 1]
        return low + u * (high - low)

    def target(self, y0: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
        prediction = self.config.prediction
        if prediction is Prediction.EPS:
            return noise
        if prediction is Prediction.Y0:
            return y0
        return process.v_target(y0, gamma, noise)

    def weight(self, gamma: Tensor) -> Tensor:
        """Per-example loss weight (B,), float64."""
        weighting, prediction = self.config.loss_weighting, self.config.prediction
        if weighting is LossWeighting.EDM:
            return edm_loss_weight(sigma_from_gamma(gamma), self.config.sigma_data)
        if weighting is LossWeighting.MIN_SNR:
            snr = gamma.double() / (1.0 - gamma.double())
            clipped = snr.clamp(max=self.config.min_snr_gamma)
            # The y0 error is the eps error times sqrt(1/SNR) and the v error times sqrt(1/(SNR+1)) (up to
            # sign), so min(SNR, g) on the y0 error reads as these on the network's own target.
            if prediction is Prediction.EPS:
                return clipped / snr
            if prediction is Prediction.V:
                return clipped / (snr + 1.0)
            return clipped
        return torch.ones_like(gamma, dtype=torch.float64)

    def loss(
        self,
        network: Network,
        source: Tensor,
        mask: Tensor,
        y0: Tensor,
        *,
        gamma: Tensor | None = None,
        noise: Tensor | None = None,
        from_source: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Mean weighted p-norm error over the pixels to generate (mask = 1), averaged over the batch.

        Examples marked ``from_source`` (B,) are noised from the source's own diffused value (a residual
        of zero: the sampler's partial start from the JPEG) and still scored against the truth. The weight
        scales the error before the norm (sqrt(w) |e| for L1, w e^2 for L2), so both norms see the same
        rescaled error."""
        if gamma is None:
            gamma, from_source = self.sample_levels(y0.shape[0], generator)
        if noise is None:
            noise = torch.randn(y0.shape, device=y0.device, dtype=y0.dtype, generator=generator)
        diffused = to_diffused(y0, source, self.config.target)
        noised = diffused
        if from_source is not None:
            start = to_diffused(source, source, self.config.target)
            noised = torch.where(from_source.reshape(-1, 1, 1, 1), start, diffused)
        y_t = mask * process.q_sample(noised, gamma, noise) + (1.0 - mask) * diffused
        output = network(source, mask, y_t, gamma.float())
        scale = process.expand(self.weight(gamma).sqrt(), output.float())
        error = scale * (output.float() - self.target(diffused, gamma, noise).float())
        per_pixel = error.abs() if self.config.loss is LossType.L1 else error.square()
        weight = mask.expand_as(per_pixel)
        return (per_pixel * weight).sum() / weight.sum().clamp(min=1.0)

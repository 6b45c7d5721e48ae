"""EDM preconditioning (Karras et al. 2022, table 1) beside the network it wraps.

The samplers and the training objective speak the variance-preserving language of Palette,
y_t = sqrt(g) y_0 + sqrt(1 - g) eps. EDM's formulas are in the variance-exploding one, x = y_0 + sigma eps,
and the two are the same state up to a scale: x = y_t / sqrt(g), sigma = sqrt((1 - g) / g). With
sigma_data the standard deviation of what is diffused,

    c_in   = 1 / sqrt(sigma^2 + sigma_data^2)        (the network sees unit-variance input at every level)
    c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)
    c_out  = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)
    D(x)   = c_skip x + c_out F(c_in x)              (the y_0 estimate)

and the loss weight 1 / c_out^2 makes the training target of F unit-variance at every level. A residual
(a small correction to a classical estimate, sigma_data ~ 0.1) is where this matters: without c_in the
network's input at low noise would be ten times smaller than at high noise.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from model.config import ModelConfig, Preconditioning, UNetConfig
from model.diffusion.process import expand
from model.diffusion.schedule import sigma_from_gamma
from model.nn.unet import PaletteUNet


class EDMCoefficients(NamedTuple):
    c_in: Tensor
    c_skip: Tensor
    c_out: Tensor


def edm_coefficients(sigma: Tensor, sigma_data: float) -> EDMCoefficients:
    """Table 1 of Karras et al. 2022, in float64."""
    sigma = sigma.double()
    total = sigma**2 + sigma_data**2
    return EDMCoefficients(
        c_in=total.rsqrt(), c_skip=sigma_data**2 / total, c_out=sigma * sigma_data * total.rsqrt()
    )


def edm_loss_weight(sigma: Tensor, sigma_data: float) -> Tensor:
    """lambda(sigma) = 1 / c_out^2 = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2, float64."""
    return 1.0 / edm_coefficients(sigma, sigma_data).c_out ** 2


class EDMPreconditionedUNet(PaletteUNet):
    """A :class:`PaletteUNet` whose output is EDM's y_0 estimate D; same call, same weights' names."""

    def __init__(self, config: UNetConfig, sigma_data: float) -> None:
        super().__init__(config)
        self.sigma_data = sigma_data

    def forward(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        sigma = sigma_from_gamma(gamma)
        c = edm_coefficients(sigma, self.sigma_data)
        to_ve = (1.0 + sigma**2).sqrt()  # x = y_t / sqrt(g) = y_t sqrt(1 + sigma^2)
        raw = super().forward(source, mask, expand(c.c_in * to_ve, y_t) * y_t, gamma)
        return expand(c.c_skip * to_ve, y_t) * y_t + expand(c.c_out, raw) * raw


def create_network(config: ModelConfig) -> PaletteUNet:
    """The network a model config describes, freshly initialised: the one place that decides whether the
    U-Net is wrapped in a preconditioning."""
    if config.diffusion.preconditioning is Preconditioning.EDM:
        return EDMPreconditionedUNet(config.unet, config.diffusion.sigma_data)
    return PaletteUNet(config.unet)

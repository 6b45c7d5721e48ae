"""The forward (noising) process, its posterior, and what a network output says about y_0, in closed form
(Palette eqs. 1-4). Per-example coefficients are formed in float64: for the noisiest levels (gamma ~ 1e-20)
the ratios lose every digit in float32."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from model.config import Prediction


def expand(values: Tensor, like: Tensor) -> Tensor:
    """Per-example scalars (B,) -> (B, 1, 1, 1), in the dtype of ``like``. One scalar for the whole batch
    (0-d, a step of the fast path) stays 0-d: elementwise kernels take it as a scalar, faster than a
    broadcast dimension, with the same values."""
    values = values.to(like.dtype)
    return values if values.ndim == 0 else values.reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(y0: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    """y_t = sqrt(gamma) y_0 + sqrt(1 - gamma) eps, with a per-example gamma (B,)."""
    return expand(gamma.sqrt(), y0) * y0 + expand((1.0 - gamma).sqrt(), y0) * noise


def v_target(y0: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    """v = sqrt(g) eps - sqrt(1 - g) y_0 (Salimans & Ho 2022)."""
    return expand(gamma.sqrt(), y0) * noise - expand((1.0 - gamma).sqrt(), y0) * y0


class Y0Coefficients(NamedTuple):
    """y_0 = k_y y_t + k_o F, where F is the network's output."""

    k_y: Tensor
    k_o: Tensor


def y0_coefficients(gamma: Tensor, prediction: Prediction) -> Y0Coefficients:
    """The y_0 a network output F stands for is linear in y_t and F at every level, for each prediction:
        eps: y_0 = (y_t - sqrt(1 - g) eps) / sqrt(g)
        v:   y_0 = sqrt(g) y_t - sqrt(1 - g) v
        y0:  y_0 = F
    EDM's preconditioning (:mod:`model.nn.preconditioning`) lives inside the network, whose output is then
    already its y_0 estimate D = c_skip x + c_out F(c_in x): a y0 prediction. Float64, shaped like gamma."""
    gamma = gamma.double()
    if prediction is Prediction.EPS:
        return Y0Coefficients(1.0 / gamma.sqrt(), -(1.0 - gamma).sqrt() / gamma.sqrt())
    if prediction is Prediction.V:
        return Y0Coefficients(gamma.sqrt(), -(1.0 - gamma).sqrt())
    return Y0Coefficients(torch.zeros_like(gamma), torch.ones_like(gamma))


class Posterior(NamedTuple):
    """q(y_prev | y_0, y_t) = N(mean_y0 y_0 + mean_yt y_t, variance I)."""

    mean_y0: Tensor
    mean_yt: Tensor
    variance: Tensor


def posterior(gamma_t: Tensor, gamma_prev: Tensor) -> Posterior:
    """The posterior between two levels gamma_t < gamma_prev of a schedule, in float64.

    With alpha = gamma_t / gamma_prev (one step's alpha_t when the levels are adjacent):
        mean = sqrt(gamma_prev) (1 - alpha) / (1 - gamma_t) y_0
             + sqrt(alpha) (1 - gamma_prev) / (1 - gamma_t) y_t
        var  = (1 - gamma_prev) (1 - alpha) / (1 - gamma_t)
    """
    gamma_t, gamma_prev = gamma_t.double(), gamma_prev.double()
    alpha = gamma_t / gamma_prev
    return Posterior(
        mean_y0=gamma_prev.sqrt() * (1.0 - alpha) / (1.0 - gamma_t),
        mean_yt=alpha.sqrt() * (1.0 - gamma_prev) / (1.0 - gamma_t),
        variance=(1.0 - gamma_prev) * (1.0 - alpha) / (1.0 - gamma_t),
    )

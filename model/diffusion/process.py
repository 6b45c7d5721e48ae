"""The forward (noising) process and its posterior, in closed form (Palette eqs. 1-4)."""

from __future__ import annotations

from torch import Tensor


def expand(values: Tensor, like: Tensor) -> Tensor:
    """Per-example scalars (B,) -> (B, 1, 1, 1), in the dtype of ``like``."""
    return values.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(y0: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    """y_t = sqrt(gamma) y_0 + sqrt(1 - gamma) eps, with a per-example gamma (B,)."""
    return expand(gamma.sqrt(), y0) * y0 + expand((1.0 - gamma).sqrt(), y0) * noise


def y0_from_eps(y_t: Tensor, gamma: Tensor, eps: Tensor) -> Tensor:
    return (y_t - expand((1.0 - gamma).sqrt(), y_t) * eps) / expand(gamma.sqrt(), y_t)


def eps_from_y0(y_t: Tensor, gamma: Tensor, y0: Tensor) -> Tensor:
    return (y_t - expand(gamma.sqrt(), y_t) * y0) / expand((1.0 - gamma).sqrt(), y_t)


def y0_from_v(y_t: Tensor, gamma: Tensor, v: Tensor) -> Tensor:
    """v = sqrt(g) eps - sqrt(1-g) y0  =>  y0 = sqrt(g) y_t - sqrt(1-g) v."""
    return expand(gamma.sqrt(), y_t) * y_t - expand((1.0 - gamma).sqrt(), y_t) * v


def v_target(y0: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    return expand(gamma.sqrt(), y0) * noise - expand((1.0 - gamma).sqrt(), y0) * y0


def posterior(y0: Tensor, y_t: Tensor, gamma_t: Tensor, gamma_prev: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of q(y_prev | y_0, y_t) between two levels gamma_t < gamma_prev of a schedule.

    With alpha = gamma_t / gamma_prev (one step's alpha_t when the levels are adjacent):
        mean = sqrt(gamma_prev) (1 - alpha) / (1 - gamma_t) y_0
             + sqrt(alpha) (1 - gamma_prev) / (1 - gamma_t) y_t
        var  = (1 - gamma_prev) (1 - alpha) / (1 - gamma_t)
    The per-example coefficients are formed in float64: for the noisiest levels (gamma ~ 1e-20) the ratios
    lose every digit in float32.
    """
    gamma_t, gamma_prev = gamma_t.double(), gamma_prev.double()
    alpha = gamma_t / gamma_prev
    coef_y0 = gamma_prev.sqrt() * (1.0 - alpha) / (1.0 - gamma_t)
    coef_yt = alpha.sqrt() * (1.0 - gamma_prev) / (1.0 - gamma_t)
    variance = (1.0 - gamma_prev) * (1.0 - alpha) / (1.0 - gamma_t)
    mean = expand(coef_y0, y0) * y0 + expand(coef_yt, y_t) * y_t
    return mean, expand(variance, y_t)

"""Distances between two sets of feature vectors: the Fréchet distance between Gaussians fitted to them
(the formula of FID) and the kernel distance (the formula of KID, Bińkowski et al. 2018).

Which features go in decides the name of the number: Inception-v3 pool features give FID and KID, any
other network gives something else that must be labelled as such. Everything runs in float64: the Fréchet
distance is a small difference of large traces and loses its digits in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KID_SUBSETS = 100  # as StyleGAN2-ADA's kernel_inception_distance
KID_SUBSET_SIZE = 1000


@dataclass(frozen=True)
class Gaussian:
    mean: np.ndarray  # (d,)
    cov: np.ndarray  # (d, d)


@dataclass(frozen=True)
class KernelDistance:
    mean: float  # unbiased MMD^2 averaged over subsets
    # Spread over subsets, how much the estimate moves with the draw; None when the sets are no larger
    # than one subset, which is then the whole of both and has no spread to report.
    std: float | None


def as_features(features: np.ndarray) -> np.ndarray:
    """(n, d) features as float64, n >= 2 (a covariance needs two points)."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors of shape (n, d), got {features.shape}")
    return features.astype(np.float64)


def fit_gaussian(features: np.ndarray) -> Gaussian:
    """Mean and unbiased covariance of (n, d) features."""
    x = as_features(features)
    return Gaussian(mean=x.mean(axis=0), cov=np.atleast_2d(np.cov(x, rowvar=False)))


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix; round-off negatives are clipped to 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(values.clip(min=0.0))) @ vectors.T


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^1/2).

    tr((S_a S_b)^1/2) is the sum of the square roots of the eigenvalues of S_a^1/2 S_b S_a^1/2, which is
    symmetric, so no complex-valued general matrix square root (and its imaginary residue) is needed.
    """
    root_a = psd_sqrt(a.cov)
    product = root_a @ b.cov @ root_a
    trace_root = float(np.sqrt(np.linalg.eigvalsh((product + product.T) / 2).clip(min=0.0)).sum())
    shift = float(np.sum((a.mean - b.mean) ** 2))
    return shift + float(np.trace(a.cov)) + float(np.trace(b.cov)) - 2.0 * trace_root


def frechet_distance_of_features(x: np.ndarray, y: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to (n_x, d) and (n_y, d) features, n >= 2.

    With no more vectors than dimensions (the usual case: a few hundred images, 1280 or 2048 features)
    the covariances have rank below n, and tr((S_x S_y)^1/2) equals the nuclear norm of the small
    cross-Gram matrix X_c Y_c^T / sqrt((n_x - 1)(n_y - 1)) (X_c, Y_c: centred features; the nonzero
    eigenvalues of S_x S_y are its squared singular values). That is exact, and an (n_x, n_y) SVD instead
    of two (d, d) eigendecompositions that take seconds each on a small CPU.
    """
    x64, y64 = as_features(x), as_features(y)
    if max(len(x64), len(y64)) > x64.shape[1]:
        return frechet_distance(fit_gaussian(x64), fit_gaussian(y64))
    centred_x, centred_y = x64 - x64.mean(axis=0), y64 - y64.mean(axis=0)
    trace_x = float(np.sum(centred_x**2)) / (len(x64) - 1)
    trace_y = float(np.sum(centred_y**2)) / (len(y64) - 1)
    scale = np.sqrt((len(x64) - 1) * (len(y64) - 1))
    trace_root = float(np.linalg.svd(centred_x @ centred_y.T, compute_uv=False).sum()) / scale
    shift = float(np.sum((x64.mean(axis=0) - y64.mean(axis=0)) ** 2))
    return shift + trace_x + trace_y - 2.0 * trace_root


def kernel_distance(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
) -> KernelDistance:
    """Unbiased MMD^2 with the cubic polynomial kernel k(u, v) = (u.v / d + 1)^3, averaged over random
    subsets (without replacement) of size min(subset_size, n_x, n_y) >= 2. Unlike the Fréchet distance it
    has no bias from the set size, so it is the better of the two for a few hundred images."""
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"KID needs at least 2 vectors in each set, got {len(x)} and {len(y)}")
    if size == len(x) == len(y):
        subsets = 1  # every subset would be the whole of both sets
    dim = x.shape[1]
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    estimates = np.empty(subsets)
    for index in range(subsets):
        u = x64[rng.choice(len(x64), size, replace=False)]
        v = y64[rng.choice(len(y64), size, replace=False)]
        k_uu = (u @ u.T / dim + 1.0) ** 3
        k_vv = (v @ v.T / dim + 1.0) ** 3
        k_uv = (u @ v.T / dim + 1.0) ** 3
        within = (k_uu.sum() - np.trace(k_uu) + k_vv.sum() - np.trace(k_vv)) / (size * (size - 1))
        estimates[index] = within - 2.0 * k_uv.mean()
    spread = float(estimates.std()) if subsets > 1 else None
    return KernelDistance(mean=float(estimates.mean()), std=spread)

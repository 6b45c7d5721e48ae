"""Fréchet distance and KID: closed forms for Gaussians, and the unbiasedness of the kernel estimate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from model.evaluation.frechet import (
    Gaussian,
    fit_gaussian,
    frechet_distance,
    frechet_distance_of_features,
    kernel_distance,
)


@pytest.fixture
def features() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 64)) @ rng.normal(size=(64, 64))  # correlated, fewer vectors than dims


def test_frechet_distance_of_a_set_with_itself_is_zero(features: np.ndarray) -> None:
    gaussian = fit_gaussian(features)
    scale = float(np.trace(gaussian.cov))  # the size of the terms that cancel
    assert frechet_distance_of_features(features, features) == pytest.approx(0.0, abs=1e-12 * scale)
    # the covariance route takes square roots of round-off eigenvalues of a rank-deficient matrix
    assert frechet_distance(gaussian, gaussian) == pytest.approx(0.0, abs=1e-7 * scale)


def test_frechet_distance_of_a_mean_shift_is_its_squared_length(features: np.ndarray) -> None:
    shift = np.linspace(-1.0, 2.0, features.shape[1])
    expected = float(np.sum(shift**2))  # same covariance: only ||mu_a - mu_b||^2 remains
    assert frechet_distance_of_features(features, features + shift) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance_of_features(features, features + 2 * shift) == pytest.approx(
        4 * expected, rel=1e-9
    )


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians() -> None:
    a = Gaussian(mean=np.array([0.0, 1.0, 2.0]), cov=np.diag([1.0, 4.0, 9.0]))
    b = Gaussian(mean=np.array([1.0, 1.0, 0.0]), cov=np.diag([4.0, 1.0, 1.0]))
    # ||mu_a - mu_b||^2 + sum (sigma_a - sigma_b)^2 per axis
    expected = (1 + 0 + 4) + ((1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_both_frechet_routes_agree_with_scipy_sqrtm(features: np.ndarray) -> None:
    other = features[::-1] * 1.5 + 0.3
    a, b = fit_gaussian(features), fit_gaussian(other)
    root = linalg.sqrtm(a.cov @ b.cov).real
    reference = float(np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov) + np.trace(b.cov) - 2 * np.trace(root))
    assert frechet_distance_of_features(features, other) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)
    many = np.concatenate([features] * 3)  # more vectors than dims: the covariance route
    assert frechet_distance_of_features(many, other) == pytest.approx(
        frechet_distance(fit_gaussian(many), b), rel=1e-9
    )


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 32)), rng.normal(size=(300, 32))
    same = kernel_distance(x, y, np.random.default_rng(0), subsets=20, subset_size=200)
    different = kernel_distance(x, y * 1.5 + 0.5, np.random.default_rng(0), subsets=20, subset_size=200)
    assert same.std is not None
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert different.mean > 50 * abs(same.mean) + 0.1


def test_kid_of_sets_no_larger_than_one_subset_reports_no_spread() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 16)), rng.normal(size=(50, 16))

    assert kernel_distance(x, y, np.random.default_rng(0), subset_size=100).std is None

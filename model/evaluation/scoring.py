"""Turns each row's outputs into numbers: fidelity against the ground truth, distances between the set of
outputs and the set of ground truths, and diversity among the samples drawn for one input.

Set-level distances (FD, KID, FID, IS) use the first sample of every input, so every row, model or
baseline, compares sets of the same size with the same ground truths: the Fréchet distance is biased by
set size, and comparing rows with different sizes would reward the one with more images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.evaluation.diversity import pairwise_l1, pairwise_perceptual
from model.evaluation.features import FeatureExtractor
from model.evaluation.frechet import frechet_distance_of_features, kernel_distance
from model.evaluation.heldout import EvalInput, stable_seed
from model.evaluation.inception import Inception, inception_score
from model.evaluation.metrics import l1, psnr, ssim
from model.evaluation.paired import PAIRED_MEASURES
from model.evaluation.perceptual import perceptual_distance

INCEPTION_BATCH = 64

Metrics = dict[str, float | None]
PerInput = dict[str, list[float]]  # measure -> the mean over each input's samples, in input order


@dataclass(frozen=True)
class RowScores:
    """One row's numbers: the table's metrics, and the per-input values that pair it with other rows."""

    metrics: Metrics
    per_input: PerInput


@dataclass
class _Accumulator:
    """Per-input numbers for one row, filled input by input."""

    psnr: list[list[float]] = field(default_factory=list)  # [input][sample]
    ssim: list[list[float]] = field(default_factory=list)
    l1: list[list[float]] = field(default_factory=list)
    perceptual: list[list[float]] = field(default_factory=list)
    diversity_l1: list[float] = field(default_factory=list)
    diversity_perceptual: list[float] = field(default_factory=list)
    pooled: list[np.ndarray] = field(default_factory=list)  # first sample's features, one per input


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _fidelity(acc: _Accumulator) -> Metrics:
    """Means over every sample, and best-of-N: the best sample per input (as if an oracle picked it)."""
    metrics: Metrics = {}
    for name, best in (("psnr", np.max), ("ssim", np.max), ("l1", np.min), ("perceptual", np.min)):
        table = np.asarray(getattr(acc, name), dtype=np.float64)  # (inputs, samples)
        metrics[name] = float(table.mean())
        metrics[f"{name}_best_of_n"] = float(best(table, axis=1).mean())
    metrics["diversity_l1"] = _mean(acc.diversity_l1)
    metrics["diversity_perceptual"] = _mean(acc.diversity_perceptual)
    return metrics


def _per_input(acc: _Accumulator) -> PerInput:
    return {name: np.asarray(getattr(acc, name)).mean(axis=1).tolist() for name in PAIRED_MEASURES}


def _set_distances(pooled: np.ndarray, reference: np.ndarray, seed: int) -> Metrics:
    """FD and KID in EfficientNet-Lite0 space; None when there are fewer than 2 images."""
    if len(pooled) < 2:
        return {"fd_effnetlite0": None, "kid_effnetlite0": None, "kid_effnetlite0_std": None}
    kid = kernel_distance(pooled, reference, np.random.default_rng(seed))
    return {
        "fd_effnetlite0": frechet_distance_of_features(pooled, reference),
        "kid_effnetlite0": kid.mean,
        "kid_effnetlite0_std": kid.std,
    }


def _batched(run: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    starts = range(0, len(images), INCEPTION_BATCH)
    return np.concatenate([run(images[start : start + INCEPTION_BATCH]) for start in starts])


def _inception_metrics(inception: Inception, firsts: np.ndarray, reference: np.ndarray) -> Metrics:
    """FID of the first samples against the ground truths' ``reference`` features, and their IS."""
    features = _batched(inception.features, firsts)
    score, spread = inception_score(_batched(inception.probabilities, firsts))
    fid = frechet_distance_of_features(features, reference) if len(firsts) >= 2 else None
    return {"fid": fid, "is": score, "is_std": spread}


def score_rows(
    inputs: Sequence[EvalInput],
    outputs: dict[str, np.ndarray],
    extractor: FeatureExtractor,
    inception: Inception | None,
    seed: int,
) -> dict[str, RowScores]:
    """Scores for every row; ``outputs[row]`` is (inputs, samples, H, W, 3) uint8 in input order.

    Features are computed input by input, the ground truth and every row's samples in one batch, so the
    multi-scale maps (about 1.4 MB per image) never pile up for a whole data set.
    """
    accumulators = {name: _Accumulator() for name in outputs}
    reference = []
    for index, item in enumerate(inputs):
        batch = [item.target[None]] + [rows[index] for rows in outputs.values()]
        features = extractor(np.concatenate(batch))
        reference.append(features.pooled[0].double().cpu().numpy())
        target_taps = [tap[:1] for tap in features.taps]
        start = 1
        for name, rows in outputs.items():
            samples = rows[index]
            stop = start + len(samples)
            taps = [tap[start:stop] for tap in features.taps]
            acc = accumulators[name]
            acc.psnr.append([psnr(s, item.target) for s in samples])
            acc.ssim.append([ssim(s, item.target) for s in samples])
            acc.l1.append([l1(s, item.target) for s in samples])
            acc.perceptual.append(perceptual_distance(taps, target_taps).tolist())
            if len(samples) >= 2:
                acc.diversity_l1.append(pairwise_l1(samples, item.mask))
                acc.diversity_perceptual.append(pairwise_perceptual(taps, item.mask))
            acc.pooled.append(features.pooled[start].double().cpu().numpy())
            start = stop
    metrics = {}
    for name, acc in accumulators.items():
        stats = _set_distances(np.stack(acc.pooled), np.stack(reference), stable_seed(seed, "kid", name))
        metrics[name] = _fidelity(acc) | stats
    if inception is not None:
        inception_reference = _batched(inception.features, np.stack([item.target for item in inputs]))
        for name in metrics:
            metrics[name] |= _inception_metrics(inception, outputs[name][:, 0], inception_reference)
    return {name: RowScores(metrics[name], _per_input(acc)) for name, acc in accumulators.items()}

"""The train/val split: by whole source photograph, stratified by package, stable when packages are added.

The packages of catalogue version 1 (``catalogue.LEGACY_SPLIT_PACKAGES``) are split together by
:func:`split_by_source`, exactly as before packages were added, so a photograph that was in train (val)
stays in train (val). Every other package is split on its own by :func:`split_package`, seeded by its
name, so adding or removing one package never moves a photograph of another.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping

from model.data.demo.catalogue import LEGACY_SPLIT_PACKAGES
from model.data.demo.sources import DemoDataError


def split_by_source(strata: Mapping[str, str], val_fraction: float, seed: int) -> dict[str, str]:
    """Assign each whole image (name -> stratum) to "train" or "val", deterministically for ``seed``.

    Validation gets ``round(val_fraction * n)`` images, clamped so both splits are non-empty. Each
    stratum (package) gives ``floor(val_fraction * its size)`` of them and the rest go, one each, to the
    strata with the largest remainders, so small packages are represented in proportion. When that
    still leaves validation to one stratum, one image is moved to another, so it is always a mix.
    """
    if len(strata) < 2:
        raise DemoDataError(f"need at least two source images to split into train and val, got {len(strata)}")
    rng = random.Random(seed)
    members: dict[str, list[str]] = {}
    for name in sorted(strata):
        members.setdefault(strata[name], []).append(name)
    order = sorted(members)
    rng.shuffle(order)  # breaks ties between equal remainders below
    for names in members.values():
        rng.shuffle(names)

    n_val = min(max(1, math.floor(val_fraction * len(strata) + 0.5)), len(strata) - 1)
    quota = {stratum: math.floor(val_fraction * len(members[stratum])) for stratum in order}
    by_remainder = sorted(order, key=lambda s: val_fraction * len(members[s]) - quota[s], reverse=True)
    for stratum in itertools.cycle(by_remainder):  # ends: n_val < len(strata), the total capacity
        if sum(quota.values()) >= n_val:
            break
        if quota[stratum] < len(members[stratum]):
            quota[stratum] += 1

    holders = [stratum for stratum in order if quota[stratum]]
    if n_val >= 2 and len(holders) == 1 and len(members) > 1:
        quota[holders[0]] -= 1
        quota[next(stratum for stratum in by_remainder if stratum != holders[0])] += 1

    return {
        name: "val" if index < quota[stratum] else "train"
        for stratum, names in members.items()
        for index, name in enumerate(names)
    }


def split_package(names: list[str], package: str, val_fraction: float, seed: int) -> dict[str, str]:
    """Split one package's images on their own: ``round(val_fraction * n)`` to val, at most ``n - 1``.

    The shuffle is seeded by ``seed`` and the package name (``random`` hashes a str seed with SHA-512, so
    this is stable across runs and Python versions), not by what else is in the build. A package of one
    image, or of two at the default fraction, gives nothing to val.
    """
    rng = random.Random(f"{seed}/{package}")
    order = sorted(names)
    rng.shuffle(order)
    n_val = min(math.floor(val_fraction * len(order) + 0.5), len(order) - 1)
    return {name: "val" if index < n_val else "train" for index, name in enumerate(order)}


def assign_splits(strata: Mapping[str, str], val_fraction: float, seed: int) -> dict[str, str]:
    """Train or val for every image (name -> package): legacy packages together, the others one by one.

    Raises :class:`DemoDataError` when there are fewer than two images or nothing would go to val.
    """
    if len(strata) < 2:
        raise DemoDataError(f"need at least two source images to split into train and val, got {len(strata)}")
    legacy = {name: package for name, package in strata.items() if package in LEGACY_SPLIT_PACKAGES}
    splits = dict.fromkeys(legacy, "train")
    if len(legacy) >= 2:
        splits = split_by_source(legacy, val_fraction, seed)
    others: dict[str, list[str]] = {}
    for name, package in strata.items():
        if package not in LEGACY_SPLIT_PACKAGES:
            others.setdefault(package, []).append(name)
    for package, names in sorted(others.items()):
        splits.update(split_package(names, package, val_fraction, seed))
    if "val" not in splits.values():
        raise DemoDataError(
            f"none of the {len(strata)} source images would go to val; add sources (see --sources)"
        )
    return splits

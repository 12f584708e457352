"""Subject-wise splits. Frames of one person never straddle train and test.

Random image-level splits leak identity (the same face in train and test) and inflate
results; they exist only behind ``allow_identity_leak=True`` and log a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from pedpain.core.errors import UsageError

#: Published subject-wise 5-fold tables for UNBC-McMaster (3-digit subject ids).
UNBC_FOLDS_BALANCED = (
    ("042", "052", "092", "103", "115"),
    ("043", "059", "095", "106", "120"),
    ("047", "064", "096", "107", "121"),
    ("048", "066", "097", "108", "123"),
    ("049", "080", "101", "109", "124"),
)
UNBC_FOLDS_FIXED = (
    ("064", "121", "047", "096", "059"),
    ("107", "120", "097", "106", "092"),
    ("095", "043", "103", "048", "042"),
    ("109", "108", "123", "124", "066"),
    ("049", "115", "052", "101", "080"),
)
PUBLISHED_FOLDS = {"unbc-balanced": UNBC_FOLDS_BALANCED, "unbc-fixed": UNBC_FOLDS_FIXED}


class IdentityLeakWarning(UserWarning):
    """A split that puts the same person in training and test data."""


@dataclass(frozen=True)
class Fold:
    name: str
    train: tuple[Hashable, ...]  # subject keys
    test: tuple[Hashable, ...]


def leave_one_subject_out(subjects: Sequence[Hashable]) -> list[Fold]:
    unique = sorted(set(subjects), key=str)
    if len(unique) < 2:
        raise UsageError("leave-one-subject-out needs at least 2 subjects")
    return [Fold(f"loso-{s}", tuple(u for u in unique if u != s), (s,)) for s in unique]


def subject_kfold(subjects: Sequence[Hashable], k: int, seed: int = 0) -> list[Fold]:
    """k folds of whole subjects, as equal in size as possible, shuffled by ``seed``."""
    unique = sorted(set(subjects), key=str)
    if k < 2:
        raise UsageError("k-fold needs k >= 2")
    if len(unique) < k:
        raise UsageError(f"{k} folds need at least {k} subjects, found {len(unique)}")
    order = np.random.default_rng(seed).permutation(len(unique))
    groups = [tuple(unique[i] for i in order[f::k]) for f in range(k)]
    return [
        Fold(
            f"fold-{f + 1}", tuple(s for s in unique if s not in set(g)), tuple(sorted(g, key=str))
        )
        for f, g in enumerate(groups)
    ]


def published_folds(name: str, subjects: Sequence[str]) -> list[Fold]:
    """A published UNBC fold table, restricted to the subjects present (3-digit ids)."""
    if name not in PUBLISHED_FOLDS:
        raise UsageError(f"unknown fold table {name!r} (known: {', '.join(PUBLISHED_FOLDS)})")
    present = {s[:3]: s for s in subjects}
    folds = []
    for i, table in enumerate(PUBLISHED_FOLDS[name]):
        test = tuple(present[s] for s in table if s in present)
        train = tuple(v for k, v in sorted(present.items()) if k not in table)
        if test and train:
            folds.append(Fold(f"{name}-{i + 1}", train, test))
    if not folds:
        raise UsageError(f"none of the subjects present appear in fold table {name!r}")
    return folds


def stratified_subject_split(
    subject_strata: dict[Hashable, Hashable], test_fraction: float = 0.2, seed: int = 0
) -> Fold:
    """One train/test split of subjects, taking ``test_fraction`` of each stratum.

    ``subject_strata`` maps each subject to its stratum (e.g. ``(age band, pain level)``).
    Rounding is done per stratum with the remainder carried over, so the overall test
    share stays close to ``test_fraction``.
    """
    if not 0 < test_fraction < 1:
        raise UsageError("test fraction must be between 0 and 1")
    if len(subject_strata) < 2:
        raise UsageError("a train/test split needs at least 2 subjects")
    rng = np.random.default_rng(seed)
    by_stratum: dict[Hashable, list[Hashable]] = {}
    for subject, stratum in sorted(subject_strata.items(), key=lambda kv: str(kv[0])):
        by_stratum.setdefault(stratum, []).append(subject)
    test: list[Hashable] = []
    carry = 0.0
    for stratum in sorted(by_stratum, key=str):
        members = by_stratum[stratum]
        want = len(members) * test_fraction + carry
        take = int(np.floor(want + 0.5))
        carry = want - take
        picked = rng.permutation(len(members))[:take]
        test.extend(members[i] for i in picked)
    if not test:  # tiny cohorts: still hold one subject out
        test = [sorted(subject_strata, key=str)[int(rng.integers(len(subject_strata)))]]
    test_set = set(test)
    train = tuple(s for s in sorted(subject_strata, key=str) if s not in test_set)
    return Fold("holdout", train, tuple(sorted(test_set, key=str)))


def random_item_split(
    n_items: int, test_fraction: float = 0.2, seed: int = 0, *, allow_identity_leak: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Image-level random split. Refused unless ``allow_identity_leak``; then warns."""
    if not allow_identity_leak:
        raise UsageError(
            "an image-level random split puts the same child in training and test data and "
            "inflates results; use a subject-wise split (or pass the explicit leak flag)"
        )
    warnings.warn(
        "image-level random split: the same subjects appear in training and test data; "
        "results are inflated and not comparable to subject-wise (LOSO / k-fold) figures",
        IdentityLeakWarning,
        stacklevel=2,
    )
    order = np.random.default_rng(seed).permutation(n_items)
    cut = round(n_items * (1 - test_fraction))
    return np.sort(order[:cut]), np.sort(order[cut:])

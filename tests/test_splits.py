from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pedpain.core.errors import UsageError
from pedpain.data.splits import (
    IdentityLeakWarning,
    leave_one_subject_out,
    published_folds,
    random_item_split,
    stratified_subject_split,
    subject_kfold,
)
from pedpain.data.unbc import SUBJECTS


def test_loso_holds_out_each_subject_once():
    folds = leave_one_subject_out(["a", "b", "c", "a"])
    assert [f.test for f in folds] == [("a",), ("b",), ("c",)]
    assert all(set(f.train).isdisjoint(f.test) for f in folds)


@given(st.sets(st.integers(0, 500), min_size=5, max_size=60), st.integers(2, 5), st.integers(0, 9))
@settings(max_examples=50)
def test_kfold_partitions_subjects(subjects, k, seed):
    folds = subject_kfold(sorted(subjects), k, seed)
    tested = [s for f in folds for s in f.test]
    assert sorted(tested) == sorted(subjects)
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    assert all(set(f.train) | set(f.test) == subjects for f in folds)


def test_published_tables_cover_all_25_subjects():
    for name in ("unbc-balanced", "unbc-fixed"):
        folds = published_folds(name, SUBJECTS)
        assert len(folds) == 5
        assert sorted(s for f in folds for s in f.test) == sorted(SUBJECTS)


@given(
    st.dictionaries(
        st.integers(0, 10_000), st.sampled_from(["a", "b", "c"]), min_size=2, max_size=200
    ),
    st.integers(0, 5),
)
@settings(max_examples=50)
def test_stratified_split_is_subject_wise_and_near_20_percent(strata, seed):
    fold = stratified_subject_split(strata, 0.2, seed)
    assert set(fold.train).isdisjoint(fold.test)
    assert set(fold.train) | set(fold.test) == set(strata)
    assert abs(len(fold.test) - 0.2 * len(strata)) <= 1.5 or len(fold.test) == 1


def test_stratified_split_is_deterministic():
    strata = {i: i % 3 for i in range(50)}
    assert stratified_subject_split(strata, seed=3) == stratified_subject_split(strata, seed=3)


def test_image_level_split_needs_the_flag_and_warns():
    with pytest.raises(UsageError, match="same child"):
        random_item_split(10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, test = random_item_split(10, allow_identity_leak=True)
    assert any(issubclass(w.category, IdentityLeakWarning) for w in caught)
    assert len(train) == 8 and len(test) == 2

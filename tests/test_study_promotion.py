"""Champion/challenger statistics, verdicts, the overlap refusal and the CLI's answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cohort_fixtures import fake_model_folder, fill_cohort
from pedpain.evaluation.delong import delong_paired_test
from pedpain.evaluation.metrics import auc
from pedpain.study.promotion import paired_statistics, verdict


def _scores(seed: int = 0, n_children: int = 40):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"C{i:03d}" for i in range(n_children)], 3)
    reference = np.clip(rng.normal(4, 2.5, subjects.size), 0, 10)
    threshold = np.full(subjects.size, 4.0)
    champion = np.clip(reference + rng.normal(0, 2.0, subjects.size), 0, 10)
    challenger = np.clip(reference + rng.normal(0, 1.0, subjects.size), 0, 10)
    return reference, threshold, subjects, champion, challenger


def test_paired_statistics_agree_with_their_parts() -> None:
    reference, threshold, subjects, a, b = _scores()
    s = paired_statistics(reference, threshold, subjects, a, b, n_bootstrap=400, seed=1)
    truth = reference >= threshold
    assert s["auc_champion"] == auc(a, truth) and s["auc_challenger"] == auc(b, truth)
    assert s["auc_difference"] == pytest.approx(auc(b, truth) - auc(a, truth))
    assert s["delong"]["p"] == delong_paired_test(b, a, truth).p
    right_a, right_b = (a >= threshold) == truth, (b >= threshold) == truth
    assert s["mcnemar"]["challenger_right_only"] == int((right_b & ~right_a).sum())
    assert s["mcnemar"]["champion_right_only"] == int((right_a & ~right_b).sum())
    diff = np.abs(b - reference).mean() - np.abs(a - reference).mean()
    assert s["mae_difference"] == pytest.approx(diff)
    low, high = s["mae_difference_ci95"]
    assert low < diff < high < 0  # the better challenger's errors are clearly smaller
    low, high = s["auc_difference_ci95"]
    assert low < s["auc_difference"] < high
    # Same seed, same answer; the interval resamples children, not sessions.
    again = paired_statistics(reference, threshold, subjects, a, b, n_bootstrap=400, seed=1)
    assert again["mae_difference_ci95"] == s["mae_difference_ci95"]


@pytest.mark.parametrize(
    ("auc_ci", "mae_ci", "label", "promotable"),
    [
        ([0.01, 0.08], [-0.5, -0.1], "superior", True),
        ([-0.03, 0.04], [-0.2, 0.3], "non-inferior", True),
        ([-0.03, 0.04], [-0.2, 0.9], "non-inferior", False),  # MAE may grow too much
        ([-0.20, -0.08], [0.1, 0.4], "inferior", False),
        ([-0.09, 0.02], [0.0, 0.1], "inconclusive", False),
        (None, [0.0, 0.1], "inconclusive", False),
    ],
)
def test_verdicts(auc_ci, mae_ci, label, promotable) -> None:  # type: ignore[no-untyped-def]
    v = verdict({"auc_difference_ci95": auc_ci, "mae_difference_ci95": mae_ci}, 0.05, 0.5)
    assert (v["verdict"], v["promotable"]) == (label, promotable)


def test_compare_refuses_children_a_model_was_trained_on(dbenv, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = dbenv.home
    a = fake_model_folder(home / "models" / "a", "a")
    fake_model_folder(home / "models" / "b", "b", trained_on=["PC-0001", "PC-0003", "X"])
    with dbenv.open() as store:
        fill_cohort(store, 5, [a], with_media=True)
    out = str(tmp_path / "cmp")
    r = cli("models", "compare", "a", "b", "--out", out)
    assert r.code == 2 and r.err.count("\n") == 1
    assert "challenger was trained or tuned on 2 of the 5 children" in r.err
    assert not Path(out).exists()
    unknown = cli("models", "compare", "a", "nope", "--out", out)
    assert unknown.code == 2 and "unknown model 'nope'" in unknown.err
    same = cli("models", "compare", "a", str(home / "models" / "a"), "--out", out)
    assert same.code == 2 and "same weights" in same.err
    no_export = cli("models", "compare", "a", "b", "--on", str(tmp_path), "--out", out)
    assert no_export.code == 2 and "not a pedpain export" in no_export.err


def test_promote_refusals(dbenv, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = dbenv.home
    fake_model_folder(home / "models" / "a", "a")
    fake_model_folder(home / "models" / "b", "b")
    first = cli("models", "promote", "a", "--json")  # the first model needs no comparison
    assert first.code == 0, first.err
    assert json.loads(first.out)["previous"] is None
    again = cli("models", "promote", "a")
    assert again.code == 2 and "already the active model" in again.err
    bare = cli("models", "promote", "b")
    assert bare.code == 2 and "compare b with the active model first" in bare.err
    fake = tmp_path / "cmp"
    fake.mkdir()
    (fake / "comparison.json").write_text("{}")
    bad = cli("models", "promote", "b", "--comparison", str(fake))
    assert bad.code == 2 and "not a pedpain model comparison" in bad.err
    forced = cli("models", "promote", "b", "--override-reason", "rollback drill", "--json")
    assert forced.code == 0 and json.loads(forced.out)["override_reason"] == "rollback drill"
    listed = cli("models", "list", "--json")
    assert [m["id"] for m in json.loads(listed.out) if m["active"]] == ["b"]

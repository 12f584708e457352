"""Cohort validation from the study database: the predictions table, the accounting of
every session left out, per-model sections, and the CLI's answers to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from cohort_fixtures import fake_model_folder, fill_cohort
from pedpain.core.errors import UsageError
from pedpain.models.catalog import set_active
from pedpain.study.cohort import CohortOptions, cohort_table, resolve_models


def _two_models(home: Path, trained_on: list[str] | None = None):  # type: ignore[no-untyped-def]
    a = fake_model_folder(home / "models" / "champion", "champion", trained_on)
    b = fake_model_folder(home / "models" / "challenger", "challenger")
    return a, b


def test_accounting_counts_every_session_left_out(dbenv) -> None:  # type: ignore[no-untyped-def]
    a, b = _two_models(dbenv.home, trained_on=["PC-0000", "PC-0001"])
    with dbenv.open() as store:
        fill_cohort(store, 12, [a, b], abstain_every=7, missing_rating_every=5,
                    missing_bps_every=6, unblind_every=4)  # fmt: skip
        settings = dbenv.settings()
        set_active(settings, "champion")
        [model] = resolve_models(store, settings)
        assert model.name == "champion" and model.training_subjects == {"PC-0000", "PC-0001"}
        table = cohort_table(store, model, CohortOptions())
    acc = table.accounting
    assert acc["sessions_in_cohort"] == 48 and acc["children_in_cohort"] == 12
    excluded = acc["excluded"]
    # Every session is either evaluated or counted under exactly one reason.
    assert acc["sessions_evaluated"] + sum(excluded.values()) == 48
    assert excluded["training_subjects"] > 0 and acc["training_children_excluded"] == 2
    assert excluded["ai_abstained"] == sum(acc["abstained_by_reason"].values()) > 0
    assert "no_face" in acc["abstained_by_reason"]
    assert excluded["fewer_than_3_ratings"] > 0
    rows = table.rows
    assert not rows["subject_id"].isin(["PC-0000", "PC-0001"]).any()
    assert rows["reference"].notna().all() and rows["prediction"].notna().all()
    assert set(rows["model_sha256"]) == {a.sha256}
    # BPS typed after the AI score was shown is no comparator (unless asked for).
    unblind = rows["bps_blind_to_ai"] == "no"
    assert unblind.any() and rows.loc[unblind, "comparator"].isna().all()
    assert acc["comparator"]["sessions_bps_not_blind_left_out"] == int(
        (unblind & rows["bps"].notna()).sum()
    )


def test_bps_reference_and_unblinded_option(dbenv) -> None:  # type: ignore[no-untyped-def]
    a, _ = _two_models(dbenv.home)
    with dbenv.open() as store:
        fill_cohort(store, 6, [a], missing_bps_every=5, unblind_every=3)
        settings = dbenv.settings()
        [model] = resolve_models(store, settings, "champion")
        strict = cohort_table(store, model, CohortOptions(reference="bps"))
        loose = cohort_table(
            store, model, CohortOptions(reference="bps", include_unblinded_bps=True)
        )
    assert strict.accounting["excluded"]["no_bps"] > 0
    assert strict.accounting["excluded"]["bps_not_blind"] > 0
    assert len(loose.rows) == len(strict.rows) + strict.accounting["excluded"]["bps_not_blind"]
    assert (strict.rows["reference"] == strict.rows["bps"]).all()
    assert strict.rows["comparator"].isna().all()


def test_models_are_found_by_id_name_or_sha_and_unknown_ones_refused(dbenv) -> None:  # type: ignore[no-untyped-def]
    a, b = _two_models(dbenv.home)
    fake_model_folder(dbenv.home / "models" / "unused", "unused")
    with dbenv.open() as store:
        fill_cohort(store, 3, [a, b])
        settings = dbenv.settings()
        names = ("challenger", b.sha256[:8], b.sha256, str(dbenv.home / "models" / "challenger"))
        for name in names:
            assert resolve_models(store, settings, name)[0].sha256 == b.sha256
        assert [m.name for m in resolve_models(store, settings, "all")] == [
            "champion",
            "challenger",
        ]
        with pytest.raises(UsageError, match="unknown model 'nope'"):
            resolve_models(store, settings, "nope")
        with pytest.raises(UsageError, match=r"unused .* has no AI assessments"):
            resolve_models(store, settings, "unused")
        with pytest.raises(UsageError, match="no active model"):
            resolve_models(store, settings)


def test_report_numbers_equal_evaluate_predictions_on_the_table(dbenv, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = _two_models(dbenv.home)
    with dbenv.open() as store:
        fill_cohort(store, 14, [a, b], abstain_every=9)
    out = tmp_path / "cohort"
    r = cli("cohort", "validate", "--out", str(out), "--model", "all", "--bootstrap", "200",
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    index = json.loads(r.out)
    assert [s["model"]["name"] for s in index["models"]] == ["champion", "challenger"]
    assert index["pooled"] is False
    section = index["models"][1]
    folder = Path(section["folder"])
    assert (folder / "report.html").is_file() and (folder / "cohort.json").is_file()
    mine = json.loads((folder / "metrics.json").read_text())
    r2 = cli("evaluate", "predictions", str(folder / "predictions.csv"), "--out",
             str(tmp_path / "again"), "--bootstrap", "200", "--json")  # fmt: skip
    assert r2.code == 0, r2.err
    theirs = json.loads(r2.out)
    for key in ("n", "n_subjects", "auc", "auc_ci95", "sensitivity", "specificity",
                "icc_3_1", "icc_2_1", "pcc", "mse", "mae", "subgroups"):  # fmt: skip
        assert mine[key] == theirs[key], key
    assert mine["comparator"]["delong_p"] == theirs["comparator"]["delong_p"]
    report = (folder / "report.html").read_text()
    assert "abstained" in report and "never pooled" in report
    table = pd.read_csv(folder / "predictions.csv")
    assert {"probability", "bps_blind_to_ai", "hours_since_surgery", "model_version"} <= set(
        table.columns
    )


def test_cli_bad_input(dbenv, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "o")
    empty = cli("cohort", "validate", "--out", out)
    assert empty.code == 2 and "cohort has not started" not in empty.err
    assert "no active model" in empty.err or "no AI assessments" in empty.err
    assert cli("cohort", "validate", "--out", out, "--model", "all").code == 2
    a, _ = _two_models(dbenv.home)
    with dbenv.open() as store:
        fill_cohort(store, 3, [a], missing_rating_every=1)  # no session has 3 ratings
    unknown = cli("cohort", "validate", "--out", out, "--model", "nope")
    assert unknown.code == 2 and unknown.err.count("\n") == 1 and "unknown model" in unknown.err
    bad_ref = cli("cohort", "validate", "--out", out, "--reference", "nurse")
    assert bad_ref.code == 2 and "--reference" in bad_ref.err
    bad_date = cli("cohort", "validate", "--out", out, "--since", "yesterday")
    assert bad_date.code == 2 and "--since" in bad_date.err
    unrated = cli("cohort", "validate", "--out", out, "--model", "champion")
    assert unrated.code == 3 and unrated.err.count("\n") == 1
    assert "12 fewer than 3 ratings" in unrated.err
    written = json.loads((Path(out) / "cohort.json").read_text())
    assert written["accounting"]["excluded"] == {"fewer_than_3_ratings": 12}


def test_export_settles_splits_and_sends_cohort_children_to_test(dbenv, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pedpain.store import export_manifest, withdraw_subject
    from pedpain.store.models import StoreMeta

    a, _ = _two_models(dbenv.home)
    with dbenv.open() as store:
        fill_cohort(store, 6, [a])  # bedside-assessed: the prospective cohort
        fill_cohort(store, 30, [], prefix="DV")  # development children, no AI
        first = export_manifest(store, tmp_path / "e1", test_fraction=0.2, seed=0)
        sides1 = {r["subject_code"]: r["split"] for r in _subjects_csv(tmp_path / "e1")}
        # A later export with another seed and fraction keeps every child's side.
        second = export_manifest(store, tmp_path / "e2", test_fraction=0.5, seed=9)
        sides2 = {r["subject_code"]: r["split"] for r in _subjects_csv(tmp_path / "e2")}
        assert first["splits_settled"] == {"kept": 0, "cohort_to_test": 6, "new": 30}
        assert second["splits_settled"]["kept"] == 36
        assert sides1 == sides2
        assert all(sides1[f"PC-{i:04d}"] == "test" for i in range(6))
        withdraw_subject(store, "PC-0000", "guardian withdrew consent")
        with store.session() as db:
            keys = set(db.scalars(select(StoreMeta.key)))
        assert "split:PC-0000" not in keys and "split:PC-0001" in keys


def _subjects_csv(folder: Path) -> list[dict[str, str]]:
    import csv

    with (folder / "subjects.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))

"""The simulated prospective phase end to end: phantom children enrolled and assessed
through the web app's study functions, validated from the database (numbers equal to
``pedpain evaluate predictions`` on the written table), then a challenger compared with
the champion on the same children and promoted on that comparison (audited)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from pedpain.core.errors import UsageError
from pedpain.data.phantom.oapc import CohortParams, generate_cohort
from pedpain.models.catalog import active_folder
from pedpain.pipeline.cohort_stage import simulate_prospective_phase
from pedpain.store.models import AuditEntry
from pedpain.study.cohort import CohortOptions, validate_cohort
from pedpain.study.promotion import compare_models, promote
from web_fixtures import make_env, make_model

pytestmark = pytest.mark.slow


def test_prospective_phase_validate_compare_promote(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    env = make_env(tmp_path, model=True)
    make_model(env.home / "models" / "challenger", seed=1, name="challenger")
    phantom = tmp_path / "phantom"
    generate_cohort(phantom, CohortParams(subjects=4, seed=1017, videos=False, photo_size="small"))
    counts = simulate_prospective_phase(env.settings, phantom)
    assert counts["enrolled"] >= 2 and counts["sessions"] >= 6
    assert counts["ratings"] == 3 * counts["sessions"]

    out = tmp_path / "cohort"
    with env.store() as store:
        index = validate_cohort(store, env.settings, out, CohortOptions(), n_bootstrap=200)
    [section] = index["models"]
    acc = section["accounting"]
    assert acc["sessions_in_cohort"] == counts["sessions"]
    assert acc["sessions_evaluated"] + sum(acc["excluded"].values()) == counts["sessions"]
    mine = json.loads((out / "metrics.json").read_text())
    again = cli("evaluate", "predictions", str(out / "predictions.csv"), "--out",
                str(tmp_path / "again"), "--bootstrap", "200", "--json")  # fmt: skip
    assert again.code == 0, again.err
    theirs = json.loads(again.out)
    for key in ("n", "n_subjects", "auc", "auc_ci95", "sensitivity", "specificity",
                "icc_3_1", "pcc", "mae", "comparator", "subgroups"):  # fmt: skip
        assert mine[key] == theirs[key], key

    with env.store() as store:
        # The comparison: both models score every rated session of the cohort.
        doc = compare_models(env.settings, "active", "challenger", tmp_path / "cmp",
                             store=store, n_bootstrap=200)  # fmt: skip
        assert doc["sessions"] == acc["sessions_in_cohort"] - acc["excluded"].get(
            "fewer_than_3_ratings", 0
        ) - acc["excluded"].get("awaiting_adjudication", 0)
        stats = doc["statistics"]
        assert stats["n_sessions"] == doc["paired_sessions"]
        assert doc["verdict"]["verdict"] in ("superior", "non-inferior", "inferior",
                                             "inconclusive")  # fmt: skip
        assert (tmp_path / "cmp" / "report.html").is_file()
        # Promotion: without a comparison refused; on a failing one refused unless
        # overridden; the audit entry names the comparison.
        with pytest.raises(UsageError, match="compare challenger with the active model"):
            promote(store, env.settings, "challenger")
        if not doc["verdict"]["promotable"]:
            with pytest.raises(UsageError, match="not promotable"):
                promote(store, env.settings, "challenger", tmp_path / "cmp")
        reason = None if doc["verdict"]["promotable"] else "test"
        done = promote(store, env.settings, "challenger", tmp_path / "cmp", override_reason=reason)
        assert done["comparison"]["id"] == doc["id"]
        assert active_folder(env.settings) == (env.home / "models" / "challenger").resolve()
        with store.session() as db:
            entry = db.scalars(
                select(AuditEntry).where(AuditEntry.action.in_(["model.promote",
                                                                 "model.activate"]))
            ).one()  # fmt: skip
        assert json.loads(entry.detail or "{}")["comparison"]["id"] == doc["id"]

"""The researcher's cohort section and the model registry's comparison and promotion pages:
thin pages over pedpain.study.cohort and pedpain.study.promotion."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from cohort_fixtures import FakeModel, fake_model_folder, fill_cohort
from pedpain.models.bundle import read_model_meta
from pedpain.store.models import AuditEntry
from pedpain.web import create_app
from web_fixtures import PASSWORD, csrf_of, make_env


def _login(app, user: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    r = c.post("/login", data={"username": user, "password": PASSWORD,
                               "csrf_token": csrf_of(c.get("/login").text)})  # fmt: skip
    assert r.status_code == 303, r.text
    return c, csrf_of(c.get("/study").text)


def test_dashboard_section_and_registry_pages(tmp_path: Path) -> None:
    env = make_env(tmp_path, model=True)
    folder = env.home / "models" / "ui-test"
    active = FakeModel(folder, str(read_model_meta(folder)["sha256"]), "ui-test")
    fake_model_folder(env.home / "models" / "challenger", "challenger")
    app = create_app(env.settings, host="127.0.0.1")
    try:
        c, csrf = _login(app, "remy")
        empty = c.get("/study")
        assert empty.status_code == 200 and "Prospective cohort" in empty.text
        assert "has no AI assessments" in empty.text  # says what is missing
        with env.store() as store:
            fill_cohort(store, 30, [active], abstain_every=11)
        page = c.get("/study")
        assert page.status_code == 200
        html = page.text
        assert "30</span> of 500 children validated" in html
        assert "AUC (95% CI, children resampled)" in html and "Nurse's BPS" in html
        assert html.count("<svg") >= 2 and "AI vs raters&#39; consensus" in html
        assert "By time point" in html and "By age band" in html
        assert "abstained" in html

        models = c.get("/study/models")
        assert models.status_code == 200 and 'action="/study/models/compare"' in models.text
        assert c.get("/study/models/compare/0123456789abcdef").status_code == 404
        # Another model is active: making one active needs a comparison or a reason.
        bare = c.post("/study/models/active", data={"model": "challenger", "csrf_token": csrf})
        assert bare.status_code == 400
        assert "compare challenger with the active model first" in bare.text
        done = c.post("/study/models/active", data={"model": "challenger", "csrf_token": csrf,
                                                    "reason": "rollback drill"})  # fmt: skip
        assert done.status_code == 303
        with env.store() as store, store.session() as db:
            entry = db.scalars(
                select(AuditEntry).where(AuditEntry.action == "model.activate")
            ).one()
        assert json.loads(entry.detail or "{}")["override_reason"] == "rollback drill"
        # The full report lands among the reports.
        made = c.post("/study/cohort/report", data={"csrf_token": csrf})
        assert made.status_code == 303 and made.headers["location"] == "/study/reports"
        assert "cohort-" in c.get("/study/reports").text
    finally:
        app.state.store.close()

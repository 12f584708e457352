"""The demo's simulated prospective phase: new phantom children enrolled and assessed at
the "bedside" through the same study functions the web app calls, then validated.

A small second phantom cohort (photos only, its own seed) supplies the children, their
photos, the nurse's BPS and the raters' scores. Each child is screened and enrolled as the
enrolment form does; each session is stored with its photos, the nurse's BPS is entered
before the AI score is shown (the validation phase), the active model assesses it, and
three raters score it blind. ``pedpain cohort validate`` then reports the cohort, and its
``predictions.csv`` is what ``pedpain evaluate predictions`` reproduces number for number.

Codes are re-prefixed ``PR-`` so the prospective children never collide with the
development cohort imported earlier (``PH-``).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pedpain import DISCLAIMER
from pedpain.core.errors import PedpainError
from pedpain.core.files import atomic_write_text
from pedpain.core.settings import Settings

PREFIX = "PR-"
RATERS = ("demo-rater-1", "demo-rater-2", "demo-rater-3")
EXCLUSION_FACTS = (
    "neurological_disease",
    "muscular_disease",
    "psychiatric_disease",
    "intraop_cardiac_arrest",
    "icu_after_surgery",
    "non_cooperative",
)


def _table(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _enrol_form(subject: dict[str, str], consent: dict[str, str] | None) -> dict[str, Any]:
    form: dict[str, Any] = {
        "code": PREFIX + subject["subject_code"].split("-", 1)[-1],
        "age": f"{subject['age_months']}m",
        "sex": subject["sex"],
        "group": subject["group"],
        "surgery_type": subject["surgery_type"],
        "surgery_end": subject["surgery_end"],
        "gestational_age_weeks": subject["gestational_age_weeks"],
        "guardian_consent": (consent or {}).get("guardian_consent", "0"),
    }
    if subject["surgery_start"] and subject["surgery_end"]:
        from datetime import datetime

        hours = (
            datetime.fromisoformat(subject["surgery_end"])
            - datetime.fromisoformat(subject["surgery_start"])
        ).total_seconds() / 3600
        form["surgery_hours"] = f"{hours:.2f}"
    if consent and consent.get("child_assent"):
        form["child_assent"] = consent["child_assent"]
    for fact in EXCLUSION_FACTS:
        form[fact] = subject[fact]
    return form


def simulate_prospective_phase(
    settings: Settings, phantom: Path, *, actor: str = "pedpain-demo"
) -> dict[str, Any]:
    """Enrol and assess the phantom cohort in ``phantom`` through the study functions;
    the active model of ``settings`` assesses. Returns counts."""
    from pedpain.store import open_store
    from pedpain.study import enrolment, intake, ratings, sessions
    from pedpain.study.protocol import StudyRules
    from pedpain.web.engines import EnginePool

    subjects = _table(phantom, "subjects")
    consents = {r["subject_code"]: r for r in _table(phantom, "consents") if r["event"] == "given"}
    planned = defaultdict(list)
    for row in _table(phantom, "sessions"):
        planned[row["subject_code"]].append(row)
    photos = defaultdict(list)
    for row in _table(phantom, "media"):
        if row["kind"] == "photo":
            photos[row["session_id"]].append(phantom / row["path"])
    scores = defaultdict(list)
    for row in _table(phantom, "ratings"):
        scores[row["session_id"]].append(float(row["raw_score"]))
    rules = StudyRules.from_settings(settings)
    counts = {"screened": 0, "enrolled": 0, "sessions": 0, "assessed_ok": 0, "ratings": 0}
    engines = EnginePool(settings)
    try:
        with open_store(settings, actor=actor) as base:
            nurse = sessions.actor_store(base, "demo-nurse")
            for subject in subjects:
                counts["screened"] += 1
                form = _enrol_form(subject, consents.get(subject["subject_code"]))
                code = form["code"]
                if not enrolment.enrol_child(nurse, form).enrolled:
                    continue
                counts["enrolled"] += 1
                for row in planned[subject["subject_code"]]:
                    files = photos.get(row["session_id"], [])
                    if not files:
                        continue
                    media = intake.check_uploads(
                        [intake.Upload(p.name, p.read_bytes()) for p in files]
                    )
                    hours = row["hours_since_surgery"] or None
                    session_code = sessions.create_session(
                        nurse, code, row["time_point"], media, hours
                    )
                    counts["sessions"] += 1
                    session = sessions.get_session(nurse, code, session_code)
                    if row["bps_score"]:
                        # Validation phase: the nurse's BPS goes in before the AI is shown.
                        sessions.set_bps(
                            nurse, session, float(row["bps_score"]), rules,
                            scale_code=row["bps_scale"],
                        )  # fmt: skip
                    doc = sessions.run_assessment(nurse, engines, session, "demo-nurse")
                    counts["assessed_ok"] += doc.get("status") == "ok"
                    for rater, score in zip(RATERS, scores[row["session_id"]], strict=False):
                        rated = sessions.find_session(base, session_code)
                        ratings.submit_rating(
                            sessions.actor_store(base, rater), rated, rater, score
                        )
                        counts["ratings"] += 1
    finally:
        engines.close()
    return counts


def _stage(quick: bool):  # type: ignore[no-untyped-def]
    def run(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
        from pedpain.data.phantom.oapc import CohortParams, generate_cohort
        from pedpain.pipeline.study_stages import _demo_settings
        from pedpain.store import open_store
        from pedpain.study.cohort import CohortOptions, validate_cohort

        settings = _demo_settings(done)
        phantom = folder / "prospective-phantom"
        generate_cohort(
            phantom,
            CohortParams(subjects=6 if quick else 12, seed=1017, videos=False, photo_size="small"),
        )
        counts = simulate_prospective_phase(settings, phantom)
        out = folder / "cohort-report"
        try:
            with open_store(settings, actor="pedpain-demo") as store:
                index = validate_cohort(
                    store, settings, out, CohortOptions(), n_bootstrap=500 if quick else 2000
                )
            section = index["models"][0]
            result: dict[str, Any] = {
                "report": section.get("report"),
                "predictions": section["predictions"],
                "summary": section["summary"],
                **{k: (section.get("metrics") or {}).get(k) for k in ("auc", "mae")},
            }
        except PedpainError as exc:  # a tiny cohort may not be evaluable: say why
            result = {"report": None, "predictions": None, "summary": exc.message}
        atomic_write_text(folder / "prospective.json", json.dumps(counts, indent=2) + "\n")
        return {**counts, **result, "disclaimer": DISCLAIMER}

    return run


def cohort_stages(quick: bool) -> list[Any]:
    from pedpain.pipeline.stages import Stage

    return [
        Stage(
            "12-cohort",
            "simulated prospective cohort: enrolled, assessed at the bedside, validated",
            _stage(quick),
        )
    ]

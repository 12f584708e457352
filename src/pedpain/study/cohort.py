"""The prospective cohort's validation: the bedside AI assessments stored in the study
database, set against the raters' consensus (or the nurse's BPS), as an evaluation report.

One row per session and model: the model's latest assessment of that session. The cohort
is every session the bedside AI assessed (imported, retrospective sessions were never
assessed at the bedside and are counted apart). No session is dropped silently: each one
left out is counted under the first reason that applies, in this order:

1. voided (a correction voided the session);
2. not assessed by this model (only by another one);
3. the AI failed (``error``) or abstained, by reason;
4. the child is one the model was trained or tuned on (its folder's ``subjects_train`` and
   ``subjects_val`` are the source of truth; left out unless asked);
5. no reference: fewer than 3 ratings or awaiting adjudication (consensus), or no BPS or
   a BPS entered after the AI score was shown (BPS as the reference).

Different model versions are never pooled: each model (by weights checksum) has its own
table and report. The evaluation itself is :func:`pedpain.evaluation.evaluate_predictions`,
so the numbers equal ``pedpain evaluate predictions`` on the ``predictions.csv`` written
beside the report.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import JSON, cast, select

from pedpain import DISCLAIMER, __version__
from pedpain.clinical.consensus import RATERS_PER_SESSION
from pedpain.core.errors import EnvironmentProblem, InputsRejected, UsageError
from pedpain.core.files import atomic_write_text
from pedpain.core.settings import Settings
from pedpain.models.bundle import read_model_meta
from pedpain.models.catalog import ACTIVE, active_folder, models_root
from pedpain.store.accounts import AiAssessment
from pedpain.store.models import Session, Subject
from pedpain.store.store import Store

Reference = Literal["consensus", "bps"]
REFERENCES: tuple[str, ...] = ("consensus", "bps")
TABLE_COLUMNS = (
    "subject_id",
    "session_id",
    "reference",
    "prediction",
    "probability",
    "comparator",
    "consensus",
    "bps",
    "bps_blind_to_ai",
    "age_months",
    "sex",
    "group",
    "time_point",
    "hours_since_surgery",
    "model_name",
    "model_version",
    "model_sha256",
)
_SHA = re.compile(r"^[0-9a-f]{6,64}$")


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelRef:
    """A model as the cohort knows it: by the checksum its assessments recorded, with its
    registry folder (and so its training children) when the registry holds it."""

    sha256: str
    name: str
    version: str | None
    folder: Path | None
    training_subjects: frozenset[str] | None  # None: the folder is not available

    @property
    def label(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.name}{version} ({self.sha256[:12]})"

    @property
    def slug(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-") or "model"
        return f"{safe}-{self.sha256[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "folder": str(self.folder) if self.folder else None,
            "training_subjects_known": self.training_subjects is not None,
            "n_training_subjects": len(self.training_subjects)
            if self.training_subjects is not None
            else None,
        }


def training_subjects(meta: dict[str, Any]) -> frozenset[str]:
    """Children a model was trained or tuned on (early stopping counts as tuning)."""
    return frozenset(
        str(code) for key in ("subjects_train", "subjects_val") for code in meta.get(key) or []
    )


def _registry(settings: Settings) -> dict[str, tuple[str, Path, dict[str, Any]]]:
    """sha256 -> (registry id, folder, model.json) for every readable model folder."""
    found: dict[str, tuple[str, Path, dict[str, Any]]] = {}
    root = models_root(settings)
    folders = (
        [p for p in sorted(root.iterdir()) if p.name != ACTIVE and not p.is_symlink()]
        if root.is_dir()
        else []
    )
    active = active_folder(settings)
    if active is not None:
        folders.append(active)
    for folder in folders:
        try:
            meta = read_model_meta(folder)
        except EnvironmentProblem:
            continue
        if meta.get("sha256"):
            found.setdefault(str(meta["sha256"]), (folder.name, folder.resolve(), meta))
    return found


def _assessed_models(store: Store) -> dict[str, tuple[str, str | None]]:
    """sha256 -> (name, version) of every model with a stored assessment."""
    version = cast(AiAssessment.result_json, JSON)["model"]["version"].as_string()
    out: dict[str, tuple[str, str | None]] = {}
    with store.session() as db:
        rows = db.execute(
            select(AiAssessment.model_sha256, AiAssessment.model_name, version)
            .where(AiAssessment.model_sha256.is_not(None))
            .order_by(AiAssessment.id)
        ).all()
    for sha, name, ver in rows:
        out.setdefault(str(sha), (name or "model", ver))
    return out


def _ref(sha: str, assessed: dict[str, tuple[str, str | None]], registry: Any) -> ModelRef:
    entry = registry.get(sha)
    name, version = assessed.get(sha, (None, None))
    meta = entry[2] if entry else {}
    return ModelRef(
        sha256=sha,
        name=str(name or meta.get("name") or (entry[0] if entry else "model")),
        version=version or (str(meta["version"]) if meta.get("version") is not None else None),
        folder=entry[1] if entry else None,
        training_subjects=training_subjects(meta) if entry else None,
    )


def resolve_models(store: Store, settings: Settings, choice: str | None = None) -> list[ModelRef]:
    """The model(s) ``choice`` names: None for the active model, ``all`` for every model
    with assessments, else a registry id, a model folder path, a model name or a sha256
    (or its first 6+ characters). Unknown names and models without assessments are
    refused (UsageError) with what there is instead."""
    assessed = _assessed_models(store)
    registry = _registry(settings)
    if choice == "all":
        if not assessed:
            raise UsageError("no AI assessments in this database: the cohort has not started")
        return [_ref(sha, assessed, registry) for sha in assessed]
    sha = _pick(choice, settings, assessed, registry)
    if sha not in assessed:
        label = choice or "the active model"
        known = _known(assessed)
        raise UsageError(
            f"{label} ({sha[:12]}) has no AI assessments in this database"
            + (f"; models with assessments: {known}" if known else "")
        )
    return [_ref(sha, assessed, registry)]


def _known(assessed: dict[str, tuple[str, str | None]]) -> str:
    return ", ".join(f"{name} ({sha[:12]})" for sha, (name, _) in assessed.items())


def _pick(
    choice: str | None,
    settings: Settings,
    assessed: dict[str, tuple[str, str | None]],
    registry: dict[str, tuple[str, Path, dict[str, Any]]],
) -> str:
    if choice is None:
        folder = active_folder(settings)
        if folder is None:
            if len(assessed) == 1:
                return next(iter(assessed))
            raise UsageError(
                "no active model: choose one with --model ID (or --model all)"
                + (f"; models with assessments: {_known(assessed)}" if assessed else "")
            )
        return str(read_model_meta(folder).get("sha256") or "")
    text = choice.strip()
    for sha, (identifier, _folder, _) in registry.items():
        if text == identifier:
            return sha
    path = Path(text).expanduser()
    if (path / "model.json").is_file():
        return str(read_model_meta(path).get("sha256") or "")
    lowered = text.lower()
    if _SHA.match(lowered):
        hits = [sha for sha in {*assessed, *registry} if sha.startswith(lowered)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageError(f"{text} matches {len(hits)} models: give more of the sha256")
    named = [sha for sha, (name, _) in assessed.items() if name == text]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise UsageError(f"{len(named)} versions of {text} have assessments: give the sha256")
    ids = ", ".join(sorted(i for i, _, _ in registry.values()))
    raise UsageError(
        f"unknown model {text!r}: not a registry id ({ids or 'the registry is empty'}), "
        f"model folder, name or sha256 with assessments"
    )


# ----------------------------------------------------------------------------- table
@dataclass
class CohortTable:
    """The predictions table of one model and the account of every session left out."""

    model: ModelRef
    reference: str
    rows: pd.DataFrame
    accounting: dict[str, Any] = field(default_factory=dict)

    @property
    def n_sessions(self) -> int:
        return len(self.rows)

    @property
    def n_children(self) -> int:
        return int(self.rows["subject_id"].nunique()) if len(self.rows) else 0


@dataclass(frozen=True)
class CohortOptions:
    reference: str = "consensus"
    model: str | None = None  # None: the active model; "all"; or an id
    since: date | None = None
    include_training_subjects: bool = False
    include_unblinded_bps: bool = False

    def check(self) -> None:
        if self.reference not in REFERENCES:
            raise UsageError(f"--reference must be one of {', '.join(REFERENCES)}")


def _sessions(store: Store, since: date | None) -> pd.DataFrame:
    columns: list[Any] = [
        Session.id.label("sid"),
        Session.code.label("session_id"),
        Subject.code.label("subject_id"),
        Subject.age_months,
        Subject.sex,
        Subject.group,
        Session.time_point,
        Session.hours_since_surgery,
        Session.consensus_score,
        Session.n_ratings,
        Session.needs_adjudication,
        Session.bps_normalised,
        Session.bps_blind_to_ai,
        Session.voided_at.is_not(None).label("voided"),
    ]
    stmt = select(*columns).join(Subject, Session.subject_id == Subject.id)
    stmt = stmt.where(Session.id.in_(select(AiAssessment.session_id)))
    if since is not None:
        stmt = stmt.where(Session.assessed_at >= datetime.combine(since, datetime.min.time()))
    with store.session() as db:
        frame = pd.DataFrame(db.execute(stmt).mappings().all())
    if frame.empty:
        frame = pd.DataFrame(columns=[c.key for c in columns])
    return frame.set_index("sid", drop=False)


def _assessments(store: Store, sha: str) -> pd.DataFrame:
    """The latest assessment of each session by model ``sha``."""
    probability = cast(AiAssessment.result_json, JSON)["pain_probability"].as_float()
    stmt = (
        select(
            AiAssessment.id,
            AiAssessment.session_id,
            AiAssessment.status,
            AiAssessment.reason,
            AiAssessment.score,
            probability.label("probability"),
        )
        .where(AiAssessment.model_sha256 == sha)
        .order_by(AiAssessment.id)
    )
    with store.session() as db:
        frame = pd.DataFrame(db.execute(stmt).mappings().all())
    if frame.empty:
        return pd.DataFrame(
            columns=["id", "session_id", "status", "reason", "score", "probability"]
        )
    return frame.drop_duplicates("session_id", keep="last").set_index("session_id")


def cohort_table(
    store: Store, model: ModelRef, options: CohortOptions, sessions: pd.DataFrame | None = None
) -> CohortTable:
    """The predictions table of ``model`` over the cohort, and the accounting."""
    options.check()
    sessions = _sessions(store, options.since) if sessions is None else sessions
    ai = _assessments(store, model.sha256)
    # Each session gets the first reason that applies (EXCLUSION_ORDER), computed as
    # column masks: the dashboard runs this on every page view.
    reason = pd.Series("", index=sessions.index, dtype=object)

    def mark(name: str, mask: Any) -> None:
        reason[(reason == "") & np.asarray(mask, dtype=bool)] = name

    assessed_by = sessions.index.isin(ai.index)
    mine = ai.reindex(sessions.index)
    status = mine["status"].astype(object).fillna("")
    failed = assessed_by & ((status != "ok") | mine["score"].isna()).to_numpy()
    mark("voided", sessions["voided"].astype(bool))
    mark("not_assessed_by_model", ~assessed_by)
    mark("ai_abstained", failed & (status == "abstain").to_numpy())
    mark("ai_error", failed & (status != "abstain").to_numpy())
    if not options.include_training_subjects and model.training_subjects is not None:
        mark("training_subjects", sessions["subject_id"].isin(model.training_subjects))
    use_bps = options.reference == "bps"
    if use_bps:
        mark("no_bps", sessions["bps_normalised"].isna())
        if not options.include_unblinded_bps:
            mark("bps_not_blind", sessions["bps_blind_to_ai"].map(lambda v: v is False))
    else:
        incomplete = (sessions["n_ratings"].fillna(0).astype(int) < RATERS_PER_SESSION) | sessions[
            "consensus_score"
        ].isna()
        mark("fewer_than_3_ratings", incomplete)
        mark("awaiting_adjudication", sessions["needs_adjudication"].fillna(False).astype(bool))
    counts = Counter(reason[reason != ""])
    why = mine["reason"].astype(object).fillna("no reason given").map(_reason_key)
    abstained = Counter(why[reason == "ai_abstained"])
    errors = Counter(why[reason == "ai_error"])
    training_children = set(sessions.loc[reason == "training_subjects", "subject_id"])
    keep = sessions.index[reason == ""]
    rows = _rows(sessions.loc[keep], ai, model, options)
    assessed = int(len(sessions) - counts["voided"] - counts["not_assessed_by_model"])
    accounting = {
        "reference": options.reference,
        "sessions_in_cohort": len(sessions),
        "children_in_cohort": int(sessions["subject_id"].nunique()) if len(sessions) else 0,
        "sessions_evaluated": len(rows),
        "children_evaluated": int(rows["subject_id"].nunique()) if len(rows) else 0,
        "excluded": {k: int(counts[k]) for k in EXCLUSION_ORDER if counts[k]},
        "abstained_by_reason": dict(abstained.most_common()),
        "errors_by_reason": dict(errors.most_common()),
        "abstention_rate": counts["ai_abstained"] / assessed if assessed else None,
        "training_children_excluded": len(training_children),
        "training_subjects": "excluded"
        if not options.include_training_subjects
        else "included (optimistic)",
        "training_subjects_known": model.training_subjects is not None,
        "missing_in_cohort": _missing_counts(sessions),
        "comparator": None,
        "since": options.since.isoformat() if options.since else None,
    }
    if not use_bps and len(rows):
        have = rows["comparator"].notna()
        accounting["comparator"] = {
            "name": "nurse's BPS (normalised 0-10)",
            "sessions_with_bps": int(have.sum()),
            "sessions_bps_not_blind_left_out": int((rows["bps"].notna() & ~have).sum()),
        }
    return CohortTable(model, options.reference, rows, accounting)


EXCLUSION_ORDER = (
    "voided",
    "not_assessed_by_model",
    "ai_error",
    "ai_abstained",
    "training_subjects",
    "fewer_than_3_ratings",
    "awaiting_adjudication",
    "no_bps",
    "bps_not_blind",
)
EXCLUSION_TEXT = {
    "voided": "voided by a correction",
    "not_assessed_by_model": "assessed by another model only",
    "ai_error": "the AI failed",
    "ai_abstained": "the AI abstained",
    "training_subjects": "child trained or tuned on by this model",
    "fewer_than_3_ratings": "fewer than 3 ratings (no consensus yet)",
    "awaiting_adjudication": "raters disagree, awaiting adjudication",
    "no_bps": "no BPS entered",
    "bps_not_blind": "BPS entered after the AI score was shown",
}


def _reason_key(text: str) -> str:
    """The reason's code (``no_face: no usable face`` -> ``no_face``)."""
    return str(text).split(":")[0].strip()[:80] or "no reason given"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _missing_counts(sessions: pd.DataFrame) -> dict[str, int]:
    live = sessions[~sessions["voided"].astype(bool)] if len(sessions) else sessions
    if not len(live):
        return {"without_bps": 0, "without_3_ratings": 0}
    return {
        "without_bps": int(live["bps_normalised"].isna().sum()),
        "without_3_ratings": int((live["n_ratings"].fillna(0) < RATERS_PER_SESSION).sum()),
    }


def _rows(
    sessions: pd.DataFrame, ai: pd.DataFrame, model: ModelRef, options: CohortOptions
) -> pd.DataFrame:
    if sessions.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    mine = ai.loc[sessions.index]
    bps = sessions["bps_normalised"].astype(float)
    blind = sessions["bps_blind_to_ai"]
    consensus = sessions["consensus_score"].astype(float)
    if options.reference == "bps":
        reference, comparator = bps, pd.Series(float("nan"), index=sessions.index)
    else:
        reference = consensus
        # A BPS the nurse entered with the AI score on screen is not an independent
        # comparator: left out of the comparison unless asked for.
        unblind = blind.map(lambda v: v is False).astype(bool)
        comparator = bps.mask(unblind & (not options.include_unblinded_bps))
    frame = pd.DataFrame(
        {
            "subject_id": sessions["subject_id"].astype(str),
            "session_id": sessions["session_id"].astype(str),
            "reference": reference,
            "prediction": mine["score"].astype(float),
            "probability": pd.to_numeric(mine["probability"], errors="coerce"),
            "comparator": comparator,
            "consensus": consensus,
            "bps": bps,
            "bps_blind_to_ai": blind.map({True: "yes", False: "no"}).fillna("unknown"),
            "age_months": sessions["age_months"].astype(int),
            "sex": sessions["sex"],
            "group": sessions["group"],
            "time_point": sessions["time_point"],
            "hours_since_surgery": sessions["hours_since_surgery"].astype(float),
            "model_name": model.name,
            "model_version": model.version or "",
            "model_sha256": model.sha256,
        }
    )
    return frame.sort_values(["subject_id", "session_id"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- report
def accounting_text(table: CohortTable) -> str:
    a = table.accounting
    parts = [
        f"Prospective cohort, {a['sessions_in_cohort']} bedside-assessed sessions of "
        f"{a['children_in_cohort']} children; {a['sessions_evaluated']} sessions of "
        f"{a['children_evaluated']} children evaluated against the "
        + (
            "raters' consensus (3 blinded raters)"
            if table.reference == "consensus"
            else "nurse's BPS"
        )
        + f"; model {table.model.label} only (never pooled with other versions)."
    ]
    excluded = a["excluded"]
    if excluded:
        parts.append(
            "Left out: " + "; ".join(f"{n} {EXCLUSION_TEXT[k]}" for k, n in excluded.items()) + "."
        )
    if a["abstained_by_reason"]:
        parts.append(
            "AI abstentions by reason: "
            + ", ".join(f"{r} {n}" for r, n in a["abstained_by_reason"].items())
            + "."
        )
    if not a["training_subjects_known"]:
        parts.append(
            "WARNING: the model folder is not in the registry, so the children it was "
            "trained on are unknown and could not be left out."
        )
    comp = a.get("comparator")
    if comp:
        parts.append(
            f"Comparator: the nurse's BPS in {comp['sessions_with_bps']} sessions"
            + (
                f" ({comp['sessions_bps_not_blind_left_out']} BPS entered after the AI "
                "score was shown left out of the comparison)"
                if comp["sessions_bps_not_blind_left_out"]
                else ""
            )
            + "."
        )
    return " ".join(parts)


def validate_cohort(
    store: Store,
    settings: Settings,
    out: str | Path,
    options: CohortOptions | None = None,
    *,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the cohort validation of each chosen model under ``out`` and return the index
    (also ``out/cohort.json``). One model: its report is in ``out``; ``all``: one folder
    per model. Raises InputsRejected (after writing the accounting) when a model has no
    session that can be evaluated."""
    options = options or CohortOptions()
    options.check()
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {target} exists and is not a folder")
    models = resolve_models(store, settings, options.model)
    sessions = _sessions(store, options.since)
    several = len(models) > 1
    sections = []
    empty: list[str] = []
    for model in models:
        table = cohort_table(store, model, options, sessions)
        folder = target / model.slug if several else target
        sections.append(_write_one(table, folder, n_bootstrap, seed, settings))
        if table.rows.empty:
            empty.append(model.label)
    index = {
        "kind": "pedpain-cohort-validation",
        "created": datetime.now().replace(microsecond=0).isoformat(),
        "reference": options.reference,
        "since": options.since.isoformat() if options.since else None,
        "models": sections,
        "pooled": False,
        "target_children": settings.study_target_children,
        "disclaimer": DISCLAIMER,
        "software": {"name": "pedpain", "version": __version__},
    }
    if several:
        target.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target / "cohort.json", json.dumps(index, indent=2) + "\n")
    store.audit("cohort.validate", target=str(target.resolve()), detail={
        "reference": options.reference, "models": [m.sha256 for m in models],
    })  # fmt: skip
    if empty:
        missing = "; ".join(
            f"{s['model']['name']}: {_why_empty(s['accounting'])}"
            for s in sections
            if s["evaluated"] is False
        )
        raise InputsRejected(f"no session could be evaluated for {', '.join(empty)} ({missing})")
    return index


def _why_empty(a: dict[str, Any]) -> str:
    if not a["sessions_in_cohort"]:
        return "no bedside-assessed sessions"
    left = "; ".join(f"{n} {EXCLUSION_TEXT[k]}" for k, n in a["excluded"].items())
    return f"of {a['sessions_in_cohort']} sessions: {left}" if left else "nothing to evaluate"


def _write_one(
    table: CohortTable, folder: Path, n_bootstrap: int, seed: int, settings: Settings
) -> dict[str, Any]:
    from pedpain.evaluation.api import Protocol, evaluate_predictions
    from pedpain.evaluation.table import read_predictions

    folder.mkdir(parents=True, exist_ok=True)
    section: dict[str, Any] = {
        "model": table.model.to_dict(),
        "folder": str(folder),
        "accounting": table.accounting,
        "summary": accounting_text(table),
        "evaluated": not table.rows.empty,
    }
    predictions = folder / "predictions.csv"
    atomic_write_text(predictions, table.rows.to_csv(index=False, float_format="%.17g"))
    section["predictions"] = str(predictions)
    if not table.rows.empty:
        # The report evaluates the file itself, read as `pedpain evaluate predictions`
        # reads it, so anyone can reproduce every number from predictions.csv.
        result = evaluate_predictions(
            read_predictions(predictions),
            folder,
            protocol=Protocol(
                split="prospective cohort: each child's bedside sessions, children the model "
                "was trained or tuned on left out",
                dataset=f"OAPC-FEI prospective cohort, reference: {table.reference}",
                notes=accounting_text(table),
            ),
            model_card={"cohort": table.accounting, **table.model.to_dict()},
            n_bootstrap=n_bootstrap,
            seed=seed,
            source=str(predictions),
        )
        doc = result.document
        section["metrics"] = {
            k: doc.get(k)
            for k in ("n", "n_subjects", "auc", "auc_ci95", "sensitivity", "specificity",
                      "icc_3_1", "mae")
        }  # fmt: skip
        section["report"] = str(result.files.get("report"))
        section["progress"] = {
            "children": table.n_children,
            "target": settings.study_target_children,
        }
    atomic_write_text(folder / "cohort.json", json.dumps(section, indent=2, default=str) + "\n")
    return section


@lru_cache(maxsize=512)
def pain_threshold(age_months: int) -> float:
    """Table 1's therapeutic threshold (0-10) of the scale for this age; the evaluation's
    default when a table has no threshold column."""
    from pedpain.clinical.scales import recommended_scale
    from pedpain.evaluation.defaults import DEFAULT_THRESHOLD

    scale = recommended_scale(int(age_months))
    value = scale.threshold_normalised if scale is not None else None
    return DEFAULT_THRESHOLD if value is None else float(value)


@dataclass(frozen=True)
class Progress:
    """Where the cohort stands for one model: evaluable children and sessions, and the
    share of sessions in pain at the children's thresholds."""

    model: ModelRef
    children: int
    sessions: int
    children_in_pain: int  # children with at least one evaluable session in pain
    prevalence: float | None  # sessions in pain / evaluable sessions


def progress(store: Store, settings: Settings, model: str | None = None) -> Progress:
    ref = resolve_models(store, settings, model)[0]
    rows = cohort_table(store, ref, CohortOptions(model=model)).rows
    if rows.empty:
        return Progress(ref, 0, 0, 0, None)
    pain = rows["reference"] >= rows["age_months"].map(pain_threshold)
    return Progress(
        ref,
        int(rows["subject_id"].nunique()),
        len(rows),
        int(rows.loc[pain, "subject_id"].nunique()),
        float(pain.mean()),
    )


# ----------------------------------------------------------------------------- dashboard
DASHBOARD_BOOTSTRAP = 500
DASHBOARD_POINTS = 2000


def dashboard(
    store: Store, settings: Settings, *, n_bootstrap: int = DASHBOARD_BOOTSTRAP
) -> dict[str, Any]:
    """The researcher page's live view of the active model against the raters' consensus
    (BPS as comparator): progress against the target, AUC with its subject-level interval,
    sensitivity/specificity at each child's Table 1 threshold, ICC, Bland-Altman of AI vs
    consensus and vs BPS, abstention rate, and the same per time point and age band.
    ``available`` is False with a ``message`` saying what is missing."""
    from pedpain.evaluation.agreement import bland_altman
    from pedpain.evaluation.api import evaluate_predictions

    target = settings.study_target_children
    try:
        [model] = resolve_models(store, settings, None)
    except UsageError as exc:
        return {"available": False, "message": exc.message, "target": target}
    table = cohort_table(store, model, CohortOptions())
    base: dict[str, Any] = {
        "model": model.to_dict(),
        "label": model.label,
        "target": target,
        "accounting": table.accounting,
        "summary": accounting_text(table),
        "children": table.n_children,
        "sessions": table.n_sessions,
    }
    rows = table.rows
    truth = rows["reference"] >= rows["age_months"].map(pain_threshold) if len(rows) else None
    if truth is None or truth.nunique() < 2 or rows["subject_id"].nunique() < 3:
        return {
            **base,
            "available": False,
            "message": "not enough evaluated sessions yet (both pain and no pain, 3+ "
            f"children): {base['summary']}",
        }
    # Two passes keep the page fast on a full cohort: the headline with its subject-level
    # interval (explicit Table 1 thresholds, so no subgroup columns are needed), then the
    # time point and age band subgroups without resampling (the page shows no subgroup
    # intervals; the full report has them). Sessions are the rows already, so no
    # session_id: a session level would only repeat the row level.
    headline = rows[["subject_id", "reference", "prediction", "probability", "comparator"]]
    headline = headline.assign(threshold=rows["age_months"].map(pain_threshold))
    doc = evaluate_predictions(headline, None, n_bootstrap=n_bootstrap).document
    parts = rows[["subject_id", "reference", "prediction", "age_months", "time_point"]]
    doc["subgroups"] = evaluate_predictions(parts, None, n_bootstrap=0).document["subgroups"]
    keep = ("n", "n_subjects", "auc", "sensitivity", "specificity", "warning")
    subgroups = {
        variable: {value: {k: entry.get(k) for k in keep} for value, entry in groups.items()}
        for variable, groups in doc["subgroups"].items()
        if variable in ("time_point", "age_band")
    }
    with_bps = rows["comparator"].notna()
    prediction = rows["prediction"].to_numpy(dtype=float)
    reference = rows["reference"].to_numpy(dtype=float)
    bps = rows["comparator"].to_numpy(dtype=float)
    return {
        **base,
        "available": True,
        "auc": doc["auc"],
        "auc_ci95": doc["auc_ci95"],
        "sensitivity": doc["sensitivity"],
        "specificity": doc["specificity"],
        "icc_3_1": doc["icc_3_1"],
        "mae": doc["mae"],
        "comparator": _comparator(doc["comparator"]),
        "abstention_rate": table.accounting["abstention_rate"],
        "bland_altman": {
            "consensus": {
                **bland_altman(prediction, reference).to_dict(),
                "points": _points(prediction, reference),
            },
            "bps": {
                **bland_altman(prediction[with_bps], bps[with_bps]).to_dict(),
                "points": _points(prediction[with_bps], bps[with_bps]),
            },
        },
        "subgroups": subgroups,
        "warnings": doc["warnings"][:8],
        "bootstrap": n_bootstrap,
    }


def _comparator(card: dict[str, Any] | None) -> dict[str, Any] | None:
    keys = ("n", "auc", "sensitivity", "specificity", "delong_p", "mcnemar_p")
    return {k: card.get(k) for k in keys} if card else None


def _points(method: Any, reference: Any) -> list[tuple[float, float]]:
    """(mean, difference) pairs for a Bland-Altman plot, thinned evenly past a few
    thousand so the page stays light."""
    mean = (method + reference) / 2
    diff = method - reference
    step = max(1, len(mean) // DASHBOARD_POINTS)
    return [(float(m), float(d)) for m, d in zip(mean[::step], diff[::step], strict=True)]

"""Champion and challenger: two model folders scored on the same held-out children, paired
statistics, a verdict against the study's non-inferiority margin, and the promotion rule
(a model becomes active on a comparison it passed, and the audit log keeps which).

The children are either the prospective cohort's sessions (stored media, decrypted to a
private temporary folder, raters' consensus as the reference) or the test split of a
``pedpain db export --with-media`` folder. Both models are run on every session through
the same assessment engine as the bedside, so neither gets another model's inputs.

Paired statistics on the sessions both models scored (A is the champion, B the
challenger; differences are B - A):

- AUC difference with DeLong's paired test (sessions as cases) and a subject-level
  cluster-bootstrap 95% interval (children resampled whole);
- McNemar's exact test on correct calls at each child's Table 1 threshold;
- MAE difference with a cluster-bootstrap 95% interval over children.

Verdict: ``superior`` when the AUC interval lies above 0, ``non-inferior`` when its lower
end lies above ``-study_noninferiority_auc``, ``inferior`` when its upper end lies below
that, else ``inconclusive``; the MAE difference's upper end must also stay below
``study_noninferiority_mae`` for the challenger to be promotable. A child either model was
trained or tuned on makes the comparison on that child meaningless: it is refused, with
the count, unless the caller leaves those children out explicitly.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pedpain import DISCLAIMER, __version__
from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.files import atomic_write_text
from pedpain.core.settings import Settings
from pedpain.models.bundle import read_model_meta, verify_model_folder
from pedpain.models.catalog import active_folder, models_root, set_active
from pedpain.store.store import Store
from pedpain.study.cohort import pain_threshold, training_subjects

COMPARISON_KIND = "pedpain-model-comparison"
COMPARISONS_DIR = "comparisons"
PROMOTABLE = ("superior", "non-inferior")


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Contender:
    role: str  # champion | challenger
    id: str
    folder: Path
    meta: dict[str, Any]

    @property
    def sha256(self) -> str:
        return str(self.meta.get("sha256") or "")

    @property
    def trained_on(self) -> frozenset[str]:
        return training_subjects(self.meta)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "folder": str(self.folder),
            "name": self.meta.get("name"),
            "version": self.meta.get("version"),
            "sha256": self.sha256,
            "n_training_subjects": len(self.trained_on),
        }


def find_model(settings: Settings, model_id: str, role: str = "model") -> Contender:
    """A registry id (``PEDPAIN_HOME/models/ID``), ``active``, or a model folder path."""
    text = model_id.strip()
    if text == "active":
        folder = active_folder(settings)
        if folder is None:
            raise UsageError("there is no active model")
    else:
        root = models_root(settings)
        candidate = root / text
        if text and "/" not in text and text not in (".", "..") and candidate.is_dir():
            folder = candidate.resolve()
        elif (Path(text).expanduser() / "model.json").is_file():
            folder = Path(text).expanduser().resolve()
        else:
            raise UsageError(
                f"unknown model {text!r}: not a folder in {root} nor a model folder path"
            )
    try:
        meta = verify_model_folder(folder)
    except EnvironmentProblem as exc:
        raise UsageError(f"{role} {text}: {exc.message}") from None
    return Contender(role, folder.name, folder, meta)


# ----------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One session both models are asked to score."""

    subject: str
    session: str
    reference: float
    age_months: int
    time_point: str | None
    files: list[tuple[str, str, str]]  # (slot, kind, media sha256) or (name, kind, path)
    from_store: bool


def cohort_cases(store: Store) -> list[Case]:
    """The cohort's sessions with a complete consensus and stored media (not voided)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from pedpain.clinical.consensus import RATERS_PER_SESSION
    from pedpain.store.accounts import AiAssessment
    from pedpain.store.models import Session

    stmt = (
        select(Session)
        .where(
            Session.id.in_(select(AiAssessment.session_id)),
            Session.consensus_score.is_not(None),
            Session.n_ratings >= RATERS_PER_SESSION,
            Session.needs_adjudication.is_(False),
            Session.voided_at.is_(None),
        )
        .options(selectinload(Session.subject), selectinload(Session.media))
        .order_by(Session.id)
    )
    with store.session() as db:
        sessions = list(db.scalars(stmt))
    return [
        Case(
            s.subject.code,
            s.code,
            float(s.consensus_score),  # type: ignore[arg-type]
            int(s.subject.age_months),
            s.time_point,
            [(m.slot, m.kind, m.sha256) for m in s.media],
            True,
        )
        for s in sessions
        if s.media
    ]


def export_cases(folder: Path) -> list[Case]:
    """The test split of a ``pedpain db export --with-media`` folder, one case per session."""
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise UsageError(f"{folder} is not a pedpain export (no manifest.csv)")
    with manifest.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("split") == "test"]
    if not rows:
        raise UsageError(f"{folder}: the export has no test split rows")
    if not any(r.get("path") for r in rows):
        raise UsageError(f"{folder} has no media: export it with 'pedpain db export --with-media'")
    cases: dict[str, Case] = {}
    for r in rows:
        if not r.get("label") or not r.get("path"):
            continue
        case = cases.setdefault(
            r["session_id"],
            Case(
                r["subject_code"],
                r["session_id"],
                float(r["label"]),
                int(float(r["age_months"])),
                r.get("time_point") or None,
                [],
                False,
            ),
        )
        case.files.append((r["file"], r["kind"], str(folder / r["path"])))
    return list(cases.values())


# ----------------------------------------------------------------------------- scoring
Scorer = Callable[[Case, list[Path]], tuple[str, str | None, float | None]]


def _materialise(store: Store | None, case: Case, tmp: Path) -> list[Path]:
    if not case.from_store:
        return [Path(p) for _, _, p in case.files]
    assert store is not None
    vault = store.media()
    paths = []
    for slot, _, sha in case.files:
        target = tmp / slot
        target.write_bytes(vault.read(sha))
        paths.append(target)
    return paths


def _engine_scorer(contender: Contender, settings: Settings) -> tuple[Any, Scorer]:
    from pedpain.assess import Assessor

    engine = Assessor(contender.folder, home=Path(settings.home))

    def score(case: Case, files: list[Path]) -> tuple[str, str | None, float | None]:
        item = files if len(files) > 1 or case.files[0][1] == "photo" else files[0]
        result = engine.assess(item, age=case.age_months).to_dict()
        value = result.get("score")
        return str(result.get("status")), result.get("reason"), value

    return engine, score


@dataclass
class Scores:
    cases: list[Case]
    status: dict[str, list[str]] = field(default_factory=dict)
    reason: dict[str, list[str | None]] = field(default_factory=dict)
    score: dict[str, list[float | None]] = field(default_factory=dict)


def score_cases(
    store: Store | None,
    settings: Settings,
    cases: list[Case],
    champion: Contender,
    challenger: Contender,
) -> Scores:
    """Run both models on every case (media decrypted once per case into a private
    temporary folder, removed afterwards; each read audited)."""
    from pedpain.core.progress import track

    engines = {}
    scorers: dict[str, Scorer] = {}
    for c in (champion, challenger):
        engines[c.role], scorers[c.role] = _engine_scorer(c, settings)
    out = Scores(cases)
    for role in scorers:
        out.status[role], out.reason[role], out.score[role] = [], [], []
    tmp = Path(tempfile.mkdtemp(prefix="pedpain-compare-"))
    try:
        for case in track(cases, "scoring with both models", total=len(cases)):
            folder = tmp / "case"
            folder.mkdir()
            try:
                files = _materialise(store, case, folder)
                if case.from_store and store is not None:
                    store.audit("media.read", subject_code=case.subject, target=case.session,
                                reason="model comparison")  # fmt: skip
                for role, scorer in scorers.items():
                    status, reason, value = scorer(case, files)
                    ok = status == "ok" and value is not None
                    out.status[role].append(status)
                    out.reason[role].append(reason)
                    out.score[role].append(float(value) if ok else None)  # type: ignore[arg-type]
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for engine in engines.values():
            engine.close()
    return out


# ----------------------------------------------------------------------------- statistics
def paired_statistics(
    reference: np.ndarray,
    threshold: np.ndarray,
    subjects: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """The paired comparison of two scores of the same sessions (differences B - A)."""
    from pedpain.evaluation.agreement import mcnemar_exact
    from pedpain.evaluation.bootstrap import cluster_bootstrap_auc
    from pedpain.evaluation.delong import delong_paired_test
    from pedpain.evaluation.metrics import auc

    truth = reference >= threshold
    doc: dict[str, Any] = {
        "n_sessions": int(reference.size),
        "n_children": int(np.unique(subjects).size),
        "n_pain": int(truth.sum()),
        "n_no_pain": int((~truth).sum()),
        "auc_champion": auc(champion, truth),
        "auc_challenger": auc(challenger, truth),
    }
    delong: dict[str, Any] | None = None
    try:
        test = delong_paired_test(challenger, champion, truth)
        delong = {"difference": test.difference, "se": test.se, "z": test.z, "p": test.p}
    except ValueError as exc:
        delong = {"difference": None, "se": None, "z": None, "p": None, "note": str(exc)}
    doc["delong"] = delong
    boot = cluster_bootstrap_auc(
        challenger, truth, subjects, n_resamples=n_bootstrap, seed=seed, other_score=champion
    )
    doc["auc_difference"] = (
        doc["auc_challenger"] - doc["auc_champion"]
        if doc["auc_challenger"] is not None and doc["auc_champion"] is not None
        else None
    )
    doc["auc_difference_ci95"] = list(boot.difference_ci95) if boot.difference_ci95 else None
    doc["auc_difference_ci95_note"] = boot.reason
    right_a = (champion >= threshold) == truth
    right_b = (challenger >= threshold) == truth
    test_m = mcnemar_exact(right_b, right_a)
    doc["mcnemar"] = {
        "challenger_right_only": test_m.only_first,
        "champion_right_only": test_m.only_second,
        "p": test_m.p,
        "accuracy_champion": float(right_a.mean()) if right_a.size else None,
        "accuracy_challenger": float(right_b.mean()) if right_b.size else None,
    }
    err_a = np.abs(champion - reference)
    err_b = np.abs(challenger - reference)
    doc["mae_champion"] = float(err_a.mean()) if err_a.size else None
    doc["mae_challenger"] = float(err_b.mean()) if err_b.size else None
    doc["mae_difference"] = doc["mae_challenger"] - doc["mae_champion"] if err_a.size else None
    doc["mae_difference_ci95"] = _mae_bootstrap(err_b - err_a, subjects, n_bootstrap, seed)
    return doc


def _mae_bootstrap(diff: np.ndarray, subjects: np.ndarray, n: int, seed: int) -> list[float] | None:
    """Percentile interval of the mean paired error difference, children resampled."""
    codes, index = np.unique(subjects, return_inverse=True)
    if n <= 0 or codes.size < 3:
        return None
    sums = np.bincount(index, weights=diff, minlength=codes.size)
    counts = np.bincount(index, minlength=codes.size).astype(float)
    rng = np.random.default_rng([seed, 17])
    drawn = rng.integers(0, codes.size, (n, codes.size))
    weights = np.stack([np.bincount(row, minlength=codes.size) for row in drawn])
    values = (weights @ sums) / (weights @ counts)
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def verdict(stats: dict[str, Any], auc_margin: float, mae_margin: float) -> dict[str, Any]:
    ci = stats.get("auc_difference_ci95")
    if not ci:
        label = "inconclusive"
        why = "no subject-level interval for the AUC difference (too few children or classes)"
    elif ci[0] > 0:
        label, why = "superior", "the AUC difference's interval lies above 0"
    elif ci[0] > -auc_margin:
        label = "non-inferior"
        why = f"the AUC difference's lower limit {ci[0]:.3f} is above -{auc_margin:g}"
    elif ci[1] < -auc_margin:
        label = "inferior"
        why = f"the AUC difference's upper limit {ci[1]:.3f} is below -{auc_margin:g}"
    else:
        label = "inconclusive"
        why = f"the AUC difference's interval straddles -{auc_margin:g}"
    mae_ci = stats.get("mae_difference_ci95")
    mae_ok = bool(mae_ci) and mae_ci[1] < mae_margin  # type: ignore[index]
    promotable = label in PROMOTABLE and mae_ok
    if label in PROMOTABLE and not mae_ok:
        why += (
            f"; but the MAE increase is not shown to stay below {mae_margin:g}"
            if mae_ci
            else "; but the MAE difference has no interval"
        )
    return {
        "verdict": label,
        "promotable": promotable,
        "why": why,
        "auc_margin": auc_margin,
        "mae_margin": mae_margin,
    }


# ----------------------------------------------------------------------------- compare
def check_overlap(cases: list[Case], contenders: list[Contender]) -> dict[str, list[str]]:
    children = {c.subject for c in cases}
    return {c.role: sorted(children & c.trained_on) for c in contenders}


def compare_models(
    settings: Settings,
    champion_id: str,
    challenger_id: str,
    out: str | Path,
    *,
    store: Store | None = None,
    on: str = "cohort",
    exclude_overlap: bool = False,
    n_bootstrap: int = 2000,
    seed: int = 0,
    actor: str | None = None,
) -> dict[str, Any]:
    """Score both models on the same held-out children and write ``out/comparison.json``,
    ``comparison.csv`` and ``report.html``; returns the comparison document."""
    champion = find_model(settings, champion_id, "champion")
    challenger = find_model(settings, challenger_id, "challenger")
    if champion.sha256 == challenger.sha256:
        raise UsageError("the two models have the same weights: nothing to compare")
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {target} exists and is not a folder")
    if on == "cohort":
        if store is None:
            raise UsageError("comparing on the cohort needs the study database")
        cases = cohort_cases(store)
        source = "prospective cohort (stored bedside media, raters' consensus)"
    else:
        export = Path(on)
        if not export.is_dir():
            raise UsageError(f"--on must be 'cohort' or an export folder, not {on!r}")
        cases = export_cases(export)
        source = f"test split of the export {export.resolve()}"
    if not cases:
        raise UsageError(
            "no session to compare on: the cohort has no session with a complete consensus "
            "(3 ratings) and stored media yet"
        )
    overlap = check_overlap(cases, [champion, challenger])
    clash = {role: codes for role, codes in overlap.items() if codes}
    n_children = len({c.subject for c in cases})
    if clash and not exclude_overlap:
        parts = [
            f"the {role} was trained or tuned on {len(codes)} of the {n_children} children"
            for role, codes in clash.items()
        ]
        raise UsageError(
            "; ".join(parts) + ": it cannot be compared on them (--exclude-overlap leaves "
            "those children out)"
        )
    excluded = sorted({code for codes in clash.values() for code in codes})
    cases = [c for c in cases if c.subject not in excluded]
    if not cases:
        raise UsageError("every child of this comparison was trained on by one of the models")
    scores = score_cases(store, settings, cases, champion, challenger)
    doc = _document(scores, champion, challenger, source, excluded, settings, n_bootstrap, seed)
    _write(target, doc, scores)
    if store is not None:
        store.audit("model.compare", target=str(target.resolve()), detail={
            "id": doc["id"], "champion": champion.sha256, "challenger": challenger.sha256,
            "verdict": doc["verdict"]["verdict"],
        })  # fmt: skip
    return doc


def _document(
    scores: Scores,
    champion: Contender,
    challenger: Contender,
    source: str,
    excluded: list[str],
    settings: Settings,
    n_bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    cases = scores.cases
    a = scores.score["champion"]
    b = scores.score["challenger"]
    both = [i for i in range(len(cases)) if a[i] is not None and b[i] is not None]
    reference = np.array([cases[i].reference for i in both], dtype=float)
    threshold = np.array([pain_threshold(cases[i].age_months) for i in both], dtype=float)
    subjects = np.array([cases[i].subject for i in both], dtype=str)
    stats = paired_statistics(
        reference,
        threshold,
        subjects,
        np.array([a[i] for i in both], dtype=float),
        np.array([b[i] for i in both], dtype=float),
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    abstained = {
        role: dict(
            Counter(
                str(scores.reason[role][i] or scores.status[role][i]).split(":")[0]
                for i in range(len(cases))
                if scores.score[role][i] is None
            )
        )
        for role in ("champion", "challenger")
    }
    children = sorted({c.subject for c in cases})
    doc: dict[str, Any] = {
        "kind": COMPARISON_KIND,
        "created": datetime.now().replace(microsecond=0).isoformat(),
        "on": source,
        "champion": champion.to_dict(),
        "challenger": challenger.to_dict(),
        "sessions": len(cases),
        "children": len(children),
        "children_sha256": hashlib.sha256("\n".join(children).encode()).hexdigest(),
        "paired_sessions": len(both),
        "not_scored": abstained,
        "overlap_children_excluded": len(excluded),
        "reference": "raters' consensus (0-10); pain = consensus >= Table 1 threshold for age",
        "statistics": stats,
        "verdict": verdict(
            stats, settings.study_noninferiority_auc, settings.study_noninferiority_mae
        ),
        "bootstrap": {"resamples": n_bootstrap, "seed": seed, "unit": "child"},
        "disclaimer": DISCLAIMER,
        "software": {"name": "pedpain", "version": __version__},
    }
    key = json.dumps({k: doc[k] for k in ("champion", "challenger", "children_sha256",
                                           "statistics", "created")}, sort_keys=True,
                     default=str)  # fmt: skip
    doc["id"] = hashlib.sha256(key.encode()).hexdigest()[:16]
    return doc


def _write(target: Path, doc: dict[str, Any], scores: Scores) -> None:
    target.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["subject_id", "session_id", "time_point", "reference", "threshold",
                     "champion", "champion_status", "challenger", "challenger_status"])  # fmt: skip
    for i, case in enumerate(scores.cases):
        writer.writerow([
            case.subject, case.session, case.time_point or "", repr(case.reference),
            repr(pain_threshold(case.age_months)),
            "" if scores.score["champion"][i] is None else repr(scores.score["champion"][i]),
            scores.status["champion"][i],
            "" if scores.score["challenger"][i] is None else repr(scores.score["challenger"][i]),
            scores.status["challenger"][i],
        ])  # fmt: skip
    atomic_write_text(target / "comparison.csv", table.getvalue())
    atomic_write_text(target / "report.html", render_comparison(doc))
    # comparison.json last: its presence marks a complete comparison folder.
    atomic_write_text(
        target / "comparison.json", json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n"
    )


def _f(value: Any, digits: int = 3) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def comparison_lines(doc: dict[str, Any]) -> list[str]:
    """The comparison in a few sentences (CLI output, web page, report)."""
    s = doc["statistics"]
    v = doc["verdict"]
    ci = s.get("auc_difference_ci95") or [None, None]
    mci = s.get("mae_difference_ci95") or [None, None]
    a, b = doc["champion"], doc["challenger"]
    m = s["mcnemar"]
    return [
        f"champion {a['name']} {a.get('version') or ''} ({a['sha256'][:12]}) vs challenger "
        f"{b['name']} {b.get('version') or ''} ({b['sha256'][:12]}) on {doc['on']}",
        f"{doc['paired_sessions']} of {doc['sessions']} sessions scored by both, "
        f"{s['n_children']} children ({s['n_pain']} in pain, {s['n_no_pain']} not)"
        + (
            f"; {doc['overlap_children_excluded']} children left out (trained on)"
            if doc["overlap_children_excluded"]
            else ""
        ),
        f"AUC {_f(s['auc_champion'])} -> {_f(s['auc_challenger'])}, difference "
        f"{_f(s['auc_difference'])} [{_f(ci[0])} to {_f(ci[1])}], DeLong p "
        f"{_f(s['delong']['p'])}",
        f"correct calls {_f(m['accuracy_champion'])} -> {_f(m['accuracy_challenger'])}, "
        f"McNemar p {_f(m['p'])} ({m['challenger_right_only']} only the challenger got "
        f"right, {m['champion_right_only']} only the champion)",
        f"MAE {_f(s['mae_champion'])} -> {_f(s['mae_challenger'])}, difference "
        f"{_f(s['mae_difference'])} [{_f(mci[0])} to {_f(mci[1])}]",
        f"verdict: {v['verdict']} (margin AUC {v['auc_margin']:g}, MAE {v['mae_margin']:g}): "
        f"{v['why']}; {'may be promoted' if v['promotable'] else 'not promotable'}",
    ]


def render_comparison(doc: dict[str, Any]) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in comparison_lines(doc))
    not_scored = html.escape(json.dumps(doc["not_scored"]))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Model comparison {html.escape(doc['id'])}</title></head><body>"
        f"<h1>Champion and challenger</h1><ul>{items}</ul>"
        f"<p>Sessions a model did not score (by reason): {not_scored}.</p>"
        f"<p>Children: {doc['children']} (list digest {doc['children_sha256'][:16]}). "
        "Differences are challenger minus champion; intervals resample whole children "
        f"({doc['bootstrap']['resamples']} resamples, seed {doc['bootstrap']['seed']}).</p>"
        f"<p><em>{html.escape(DISCLAIMER)}</em></p></body></html>\n"
    )


# ----------------------------------------------------------------------------- promote
def read_comparison(path: str | Path) -> dict[str, Any]:
    folder = Path(path)
    file = folder / "comparison.json" if folder.is_dir() else folder
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"no readable comparison at {path} (comparison.json)") from None
    if not isinstance(doc, dict) or doc.get("kind") != COMPARISON_KIND:
        raise UsageError(f"{path} is not a pedpain model comparison")
    return doc


def list_comparisons(settings: Settings) -> list[dict[str, Any]]:
    """Comparisons kept under ``PEDPAIN_HOME/comparisons`` (the web page's), newest first."""
    root = Path(settings.home).resolve() / COMPARISONS_DIR
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir(), reverse=True):
            try:
                doc = read_comparison(folder)
            except UsageError:
                continue
            found.append({**doc, "folder": str(folder)})
    return found


def comparison_folder(settings: Settings, comparison_id: str) -> Path:
    for doc in list_comparisons(settings):
        if doc["id"] == comparison_id:
            return Path(doc["folder"])
    raise UsageError("no such comparison")


def promote(
    store: Store,
    settings: Settings,
    model_id: str,
    comparison: str | Path | None = None,
    *,
    override_reason: str | None = None,
) -> dict[str, Any]:
    """Make registry model ``model_id`` active. With an active champion, the comparison
    must show this model (as challenger) promotable against that champion; without one
    (the first model) none is needed. ``override_reason`` activates anyway (for example a
    rollback) and is recorded as such. The audit entry names the comparison."""
    if settings.model is not None:
        raise UsageError("PEDPAIN_MODEL fixes the model: unset it to choose one here")
    contender = find_model(settings, model_id, "model")
    if contender.folder.parent != models_root(settings).resolve():
        raise UsageError(f"{model_id} is not in the registry ({models_root(settings)})")
    current = active_folder(settings)
    champion_sha = str(read_model_meta(current).get("sha256")) if current else None
    if champion_sha == contender.sha256:
        raise UsageError(f"{model_id} is already the active model")
    detail: dict[str, Any] = {"model": contender.to_dict(), "previous": champion_sha}
    override = (override_reason or "").strip()
    if comparison is not None:
        doc = read_comparison(comparison)
        problem = _comparison_problem(doc, contender.sha256, champion_sha)
        if problem and not override:
            raise UsageError(problem)
        detail["comparison"] = {
            "id": doc["id"],
            "folder": str(Path(comparison).resolve()),
            "verdict": doc["verdict"],
            "on": doc["on"],
            "children": doc["children"],
            "paired_sessions": doc["paired_sessions"],
            "auc_difference": doc["statistics"]["auc_difference"],
            "auc_difference_ci95": doc["statistics"]["auc_difference_ci95"],
            "mae_difference": doc["statistics"]["mae_difference"],
        }
    elif champion_sha is not None and not override:
        raise UsageError(
            f"compare {model_id} with the active model first (pedpain models compare active "
            f"{model_id} --out DIR) and promote it on that comparison, or give a reason to "
            "override"
        )
    if override:
        detail["override_reason"] = override
    folder = set_active(settings, contender.id)
    action = "model.promote" if "comparison" in detail and not override else "model.activate"
    store.audit(action, target=str(folder), reason=override or None, detail=detail)
    return {"active": str(folder), "action": action, **detail}


def _comparison_problem(doc: dict[str, Any], sha: str, champion_sha: str | None) -> str | None:
    if doc["challenger"]["sha256"] != sha:
        return "that comparison's challenger is another model"
    if champion_sha is not None and doc["champion"]["sha256"] != champion_sha:
        return "that comparison was made against another champion than the active model"
    if not doc["verdict"].get("promotable"):
        return (
            f"the comparison's verdict is {doc['verdict']['verdict']} "
            f"({doc['verdict']['why']}): not promotable"
        )
    return None

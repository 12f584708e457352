"""Reference labels from the professionals' scores, and how far the raters agree.

Each session is scored by 3 professionals, each on a scale that fits the child's age;
scores are normalised to 0-10 (``pedpain.clinical.scales.normalise``). The session's
reference label is the median of the normalised scores. When the raters spread over more
than 2 points the session is flagged for adjudication: its label is kept but should be
reviewed before training. The child's self-report is never mixed into this label.

Inter-rater reliability (``reliability``) is an intraclass correlation whose model follows
the study design: one-way (Shrout & Fleiss case 1) when raters vary between sessions, as on
a ward; two-way (cases 2 and 3) when the same raters scored every session. Sessions with
missing ratings still count (``pedpain.clinical.icc`` has the estimators). Per-rater bias
is the mean of (rater's score - session median).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Raters whose normalised scores spread over more than this need adjudication.
ADJUDICATION_SPREAD = 2.0
#: Ratings expected per session.
RATERS_PER_SESSION = 3


@dataclass(frozen=True)
class Consensus:
    score: float | None  # median of normalised scores, 0-10; None without ratings
    spread: float | None  # max - min of normalised scores
    n_ratings: int
    needs_adjudication: bool


def consensus(normalised_scores: Sequence[float]) -> Consensus:
    """The median of the raters' 0-10 scores, with the adjudication flag."""
    scores = [float(s) for s in normalised_scores]
    if not scores:
        return Consensus(None, None, 0, False)
    spread = max(scores) - min(scores)
    return Consensus(
        score=float(statistics.median(scores)),
        spread=spread,
        n_ratings=len(scores),
        needs_adjudication=spread > ADJUDICATION_SPREAD + 1e-9,
    )


def pain_level(score: float | None) -> str:
    """Usual 0-10 bands: none (0-<1), mild (1-<4), moderate (4-<7), severe (7-10)."""
    if score is None:
        return "unknown"
    if score < 1:
        return "none"
    if score < 4:
        return "mild"
    if score < 7:
        return "moderate"
    return "severe"


@dataclass(frozen=True)
class Reliability:
    """Inter-rater reliability of the sessions' ratings (see ``reliability``)."""

    icc2k: float | None  # ICC(2,k), two-way designs only
    icc2k_ci95: tuple[float, float] | None
    icc21: float | None
    n_sessions: int
    n_raters: int
    design: str  # "crossed", "crossed_incomplete", "varying" or "none"
    per_rater: list[dict[str, Any]]
    model: str = "none"  # "one-way" (Shrout & Fleiss case 1) or "two-way" (cases 2/3)
    method: str = "none"  # "anova", "anova-unbalanced" or "reml"
    k: float | None = None  # ratings per session the average-measure ICC refers to
    n_ratings: int = 0
    n_sessions_excluded: int = 0  # sessions with fewer than 2 ratings
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str | None:
        """The coefficient the design calls for: ICC(1,k) one-way, ICC(2,k) two-way."""
        return {"one-way": "ICC(1,k)", "two-way": "ICC(2,k)"}.get(self.model)

    def to_dict(self) -> dict[str, Any]:
        head = self.estimates.get(self.headline or "", {})
        single = self.estimates.get((self.headline or "").replace(",k)", ",1)"), {})
        return {
            "model": self.model,
            "model_label": MODEL_LABELS.get(self.model, "not enough data"),
            "method": self.method,
            "method_label": METHOD_LABELS.get(self.method, ""),
            "icc": head.get("name"),
            "icc_k": head.get("value"),
            "icc_k_ci95": head.get("ci95"),
            "icc_1": single.get("value"),
            "icc_1_ci95": single.get("ci95"),
            "k": self.k,
            "icc_2_k": self.icc2k,
            "icc_2_k_ci95": list(self.icc2k_ci95) if self.icc2k_ci95 else None,
            "icc_2_1": self.icc21,
            "estimates": self.estimates,
            "n_sessions": self.n_sessions,
            "n_sessions_excluded": self.n_sessions_excluded,
            "n_raters": self.n_raters,
            "n_ratings": self.n_ratings,
            "design": self.design,
            "warnings": list(self.warnings),
            "per_rater": self.per_rater,
        }


MODEL_LABELS = {
    "one-way": "one-way random effects (Shrout & Fleiss case 1): raters vary between sessions",
    "two-way": "two-way random effects (Shrout & Fleiss case 2): the same raters on every "
    "session; ICC(3,.) (raters fixed, consistency) given too",
}
METHOD_LABELS = {
    "anova": "ANOVA mean squares, complete design",
    "anova-unbalanced": "one-way ANOVA with unequal numbers of ratings per session (effective k0)",
    "reml": "REML variance components of crossed random effects (missing ratings allowed)",
}
MODELS = ("auto", "one-way", "two-way")


def reliability(
    ratings: Iterable[tuple[str, str, float]],
    *,
    model: str = "auto",
    confidence: float = 0.95,
) -> Reliability:
    """Inter-rater ICC and per-rater bias from ``(session, rater, normalised score)`` triples.

    Every session with at least 2 ratings is used (a rater's repeated scores of one session
    are averaged first). The model follows the design (``model="auto"``):

    - the same raters scored every session (design ``crossed``): two-way random effects,
      Shrout & Fleiss case 2, headline ICC(2,k), from the ANOVA mean squares; ICC(2,1),
      ICC(3,1) and ICC(3,k) are given too;
    - the same team, but some of its ratings are missing (``crossed_incomplete``: no
      session has a rater from outside the largest team): the same two-way model, its
      variance components estimated by REML so that incomplete sessions still count;
    - raters vary between sessions (``varying``, the usual ward case): one-way random
      effects, Shrout & Fleiss case 1, headline ICC(1,k), by one-way ANOVA with unequal
      numbers of ratings per session.

    ``model="one-way"`` or ``"two-way"`` forces a model. ``k`` in ICC(.,k) is the
    (effective) number of ratings per session, the size of the panel whose mean is
    assessed. Intervals are at full precision; an interval that cannot be computed is
    ``None`` and a warning says why; estimates outside the coefficient's range are flagged.
    """
    import numpy as np
    import pandas as pd

    from pedpain.clinical import icc

    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    alpha = 1 - confidence
    frame = pd.DataFrame(list(ratings), columns=["session", "rater", "score"])
    frame = frame.astype({"session": str, "rater": str, "score": float})
    per_rater = _per_rater_bias(frame)
    if frame.empty:
        return Reliability(None, None, None, 0, 0, "none", per_rater, warnings=["no ratings"])
    # One score per (session, rater): a rater's repeated scores are averaged.
    cells = frame.groupby(["session", "rater"], as_index=False)["score"].mean()
    counts = cells.groupby("session")["rater"].count()
    used = cells[cells["session"].isin(counts[counts >= 2].index)]
    excluded = int((counts < 2).sum())
    n_sessions = int(used["session"].nunique())
    n_raters = int(used["rater"].nunique())
    design = _design(used)
    chosen = model if model != "auto" else ("one-way" if design == "varying" else "two-way")
    base: dict[str, Any] = {
        "per_rater": per_rater,
        "n_sessions": n_sessions,
        "n_raters": n_raters,
        "design": design,
        "n_ratings": len(used),
        "n_sessions_excluded": excluded,
    }
    warnings = []
    if excluded:
        warnings.append(f"{excluded} session(s) with a single rating left out")
    if n_sessions < 3:
        warnings.append("fewer than 3 sessions with at least 2 ratings: no ICC")
        return Reliability(None, None, None, warnings=warnings, **base)
    if used["score"].nunique() < 2:
        warnings.append("every score is the same: the ICC is undefined")
        return Reliability(None, None, None, model=chosen, warnings=warnings, **base)
    if chosen == "one-way":
        groups = [g.to_numpy(dtype=float) for _, g in used.groupby("session")["score"]]
        result = icc.one_way_anova(groups, n_raters, alpha)
    elif design == "crossed":
        table = used.pivot(index="session", columns="rater", values="score")
        result = icc.two_way_anova(table.to_numpy(dtype=float), alpha)
    else:
        if design == "varying":
            warnings.append("two-way model forced on a design where raters vary between sessions")
        s_codes, _ = pd.factorize(used["session"])
        r_codes, _ = pd.factorize(used["rater"])
        result = icc.two_way_reml(
            np.asarray(s_codes), np.asarray(r_codes), used["score"].to_numpy(float), alpha
        )
    warnings.extend(result.warnings)
    if any(e.value is not None and e.ci is None for e in result.estimates.values()) and not any(
        "interval" in w for w in warnings
    ):
        warnings.append("some intervals cannot be computed on these data (null)")
    estimates = {
        name: {
            "name": name,
            "value": e.value,
            "ci95": list(e.ci) if e.ci else None,
            "in_range": e.in_range,
        }
        for name, e in result.estimates.items()
    }
    two_k = result.estimates.get("ICC(2,k)")
    two_1 = result.estimates.get("ICC(2,1)")
    return Reliability(
        two_k.value if two_k else None,
        two_k.ci if two_k else None,
        two_1.value if two_1 else None,
        model=result.model,
        method=result.method,
        k=result.k,
        estimates=estimates,
        warnings=warnings,
        **base,
    )


def _design(cells: Any) -> str:
    """``crossed`` (one team on every session), ``crossed_incomplete`` or ``varying``."""
    teams = cells.groupby("session")["rater"].agg(frozenset)
    if teams.empty:
        return "none"
    largest = max(teams, key=len)
    if all(team == largest for team in teams):
        return "crossed"
    if all(team <= largest for team in teams):
        return "crossed_incomplete"
    return "varying"


def _per_rater_bias(frame: Any) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    median = frame.groupby("session")["score"].transform("median")
    diff = frame.assign(diff=frame["score"] - median)
    out = []
    for rater, rows in diff.groupby("rater", sort=True):
        out.append(
            {
                "rater": str(rater),
                "n": len(rows),
                "mean_score": round(float(rows["score"].mean()), 4),
                "bias": round(float(rows["diff"].mean()), 4),
                "mean_abs_diff": round(float(rows["diff"].abs().mean()), 4),
            }
        )
    return out

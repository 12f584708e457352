"""Reference labels from the professionals' scores, and how far the raters agree.

Each session is scored by 3 professionals, each on a scale that fits the child's age;
scores are normalised to 0-10 (``pedpain.clinical.scales.normalise``). The session's
reference label is the median of the normalised scores. When the raters spread over more
than 2 points the session is flagged for adjudication: its label is kept but should be
reviewed before training. The child's self-report is never mixed into this label.

Inter-rater reliability is ICC(2,k) (two-way random effects, absolute agreement, mean of
k raters; Shrout and Fleiss), computed with ``pingouin.intraclass_corr`` where it is
labelled ``ICC(A,k)``. Per-rater bias is the mean of (rater's score - session median).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    icc2k: float | None
    icc2k_ci95: tuple[float, float] | None
    icc21: float | None
    n_sessions: int
    n_raters: int
    design: str  # "crossed" (same raters on every session) or "slots" (see below)
    per_rater: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "icc_2_k": self.icc2k,
            "icc_2_k_ci95": list(self.icc2k_ci95) if self.icc2k_ci95 else None,
            "icc_2_1": self.icc21,
            "n_sessions": self.n_sessions,
            "n_raters": self.n_raters,
            "design": self.design,
            "per_rater": self.per_rater,
        }


def reliability(ratings: Iterable[tuple[str, str, float]]) -> Reliability:
    """ICC(2,k) and per-rater bias from ``(session, rater, normalised score)`` triples.

    ICC needs every session scored by the same raters. When the same k raters scored the
    sessions (design ``crossed``) they are the ICC's raters. When teams change from
    session to session, the ICC is computed over rater slots (the raters of a session
    sorted by code; design ``slots``), which treats the slot as the rater: a common
    approximation that is reported as such.
    """
    import pandas as pd

    frame = pd.DataFrame(list(ratings), columns=["session", "rater", "score"])
    per_rater = _per_rater_bias(frame)
    empty = Reliability(None, None, None, 0, 0, "none", per_rater)
    if frame.empty:
        return empty
    wide = frame.pivot_table(index="session", columns="rater", values="score", aggfunc="mean")
    counts = frame.groupby("session")["rater"].nunique()
    k = int(counts.mode().iloc[0])
    complete = wide.dropna(axis=0, how="any")
    design = "crossed"
    if len(complete) < 3 or complete.shape[1] < 2:
        # Changing teams: rank raters within each session (slot 1..k).
        keep = counts[counts == k].index
        sub = frame[frame["session"].isin(keep)].sort_values(["session", "rater"])
        sub = sub.assign(rater=sub.groupby("session").cumcount().map(lambda i: f"slot{i + 1}"))
        complete = sub.pivot_table(index="session", columns="rater", values="score")
        design = "slots"
    if len(complete) < 3 or complete.shape[1] < 2:
        return Reliability(None, None, None, len(complete), complete.shape[1], design, per_rater)
    long = complete.reset_index().melt(id_vars="session", var_name="rater", value_name="score")
    icc2k, ci, icc21 = _icc(long)
    return Reliability(icc2k, ci, icc21, len(complete), complete.shape[1], design, per_rater)


def _icc(long: Any) -> tuple[float | None, tuple[float, float] | None, float | None]:
    import math

    import pingouin

    if long["score"].nunique() < 2:
        return None, None, None  # all scores equal: ICC is undefined
    table = pingouin.intraclass_corr(
        data=long, targets="session", raters="rater", ratings="score"
    ).set_index("Type")
    # pingouin names ICC(2,k) "ICC(A,k)" and ICC(2,1) "ICC(A,1)" (absolute agreement).
    value = float(table.loc["ICC(A,k)", "ICC"])
    single = float(table.loc["ICC(A,1)", "ICC"])
    lo, hi = (float(x) for x in table.loc["ICC(A,k)", "CI95"])
    if not math.isfinite(value):
        return None, None, None
    return value, (lo, hi), single if math.isfinite(single) else None


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

"""Sample size for the prospective cohort: how many children to estimate the AI's AUC, or
its sensitivity and specificity at the therapeutic threshold, to within a chosen margin,
and how wide those intervals are with the children enrolled so far.

The margin is the half-width of the two-sided confidence interval (the "+/-" value:
Buderer's W, Hajian-Tilaki's d). Children are the planning unit, one assessment each: a
child's four sessions are correlated, so counting sessions would overstate precision;
planning on children is the conservative reading.

Formulas (published; written here from the papers):

- AUC, Hanley & McNeil (Radiology 1982;143:29-36): with ``n1`` children in pain and
  ``n0`` without, SE^2 = [A(1-A) + (n1-1)(Q1-A^2) + (n0-1)(Q2-A^2)] / (n1 n0), with
  Q1 = A/(2-A) and Q2 = 2A^2/(1+A) (exact for exponential score distributions).
- AUC, Obuchowski (binormal, equal variances; Obuchowski 1994, Hajian-Tilaki 2014):
  Var(AUC) = V / n1 with V = 0.0099 exp(-a^2/2) [(5a^2 + 8) + (a^2 + 8)/R], a = 1.414
  Phi^-1(A) and R = n0/n1; hence n1 = z^2 V / d^2 and N = n1 / prevalence.
- Sensitivity and specificity, Buderer (Acad Emerg Med 1996;3:895-900): children in
  pain needed n1 = z^2 Se(1-Se)/d^2, without pain n0 = z^2 Sp(1-Sp)/d^2; children to
  enrol N = max(n1 / prevalence, n0 / (1 - prevalence)).

Each function is pure and returns plain numbers so the CLI, the dashboard and a notebook
print the same answer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import stats

from pedpain.core.errors import UsageError

AucMethod = Literal["obuchowski", "hanley-mcneil"]
AUC_METHODS: tuple[str, ...] = ("obuchowski", "hanley-mcneil")
REFERENCES = {
    "hanley-mcneil": "Hanley JA, McNeil BJ. Radiology 1982;143:29-36",
    "obuchowski": "Obuchowski NA. Invest Radiol 1994;29:238-243 "
    "(as given by Hajian-Tilaki K. J Biomed Inform 2014;48:193-204)",
    "buderer": "Buderer NMF. Acad Emerg Med 1996;3:895-900",
}


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _check_unit(value: float, name: str, *, low: float = 0.0, high: float = 1.0) -> None:
    if not (math.isfinite(value) and low < value < high):
        raise UsageError(f"{name} must lie strictly between {low:g} and {high:g}, not {value:g}")


def _check_common(margin: float, prevalence: float, confidence: float) -> None:
    _check_unit(margin, "the margin (half-width of the interval)", high=0.5)
    _check_unit(prevalence, "the prevalence of pain")
    _check_unit(confidence, "the confidence level")


# ----------------------------------------------------------------------------- AUC
def hanley_mcneil_se(auc: float, n_pain: float, n_no_pain: float) -> float:
    """Standard error of an empirical AUC (Hanley & McNeil 1982, eq. 2 with their
    exponential approximations of Q1 and Q2)."""
    _check_unit(auc, "the AUC")
    if n_pain < 1 or n_no_pain < 1:
        raise UsageError("the AUC's standard error needs at least one child in each class")
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (n_pain - 1) * (q1 - auc * auc) + (n_no_pain - 1) * (q2 - auc * auc)
    ) / (n_pain * n_no_pain)
    return math.sqrt(max(variance, 0.0))


def obuchowski_v(auc: float, ratio: float) -> float:
    """Obuchowski's V: Var(AUC) = V / n_pain under the binormal model with equal variances
    (``ratio`` = children without pain per child in pain)."""
    _check_unit(auc, "the AUC")
    if not (math.isfinite(ratio) and ratio > 0):
        raise UsageError("the ratio of children without to with pain must be positive")
    a = 1.414 * float(stats.norm.ppf(auc))
    return 0.0099 * math.exp(-a * a / 2) * ((5 * a * a + 8) + (a * a + 8) / ratio)


def auc_se(auc: float, n_pain: float, n_no_pain: float, method: str = "obuchowski") -> float:
    if method == "hanley-mcneil":
        return hanley_mcneil_se(auc, n_pain, n_no_pain)
    if method == "obuchowski":
        if n_pain <= 0 or n_no_pain <= 0:
            raise UsageError("the AUC's standard error needs children in each class")
        return math.sqrt(obuchowski_v(auc, n_no_pain / n_pain) / n_pain)
    raise UsageError(f"AUC method must be one of {', '.join(AUC_METHODS)}, not {method!r}")


@dataclass(frozen=True)
class Requirement:
    """Children needed for one estimate, and how many of them in each class."""

    quantity: str  # auc | sensitivity | specificity
    expected: float
    margin: float
    confidence: float
    prevalence: float
    children: int
    children_in_pain: float
    children_without_pain: float
    method: str
    reference: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def children_for_auc(
    auc: float,
    margin: float,
    prevalence: float,
    *,
    confidence: float = 0.95,
    method: str = "obuchowski",
) -> Requirement:
    """Fewest children whose AUC interval has half-width <= ``margin``."""
    _check_unit(auc, "the expected AUC", low=0.5)
    _check_common(margin, prevalence, confidence)
    z = _z(confidence)
    if method == "obuchowski":
        n_pain = z * z * obuchowski_v(auc, (1 - prevalence) / prevalence) / margin**2
        total = math.ceil(n_pain / prevalence - 1e-9)
    elif method == "hanley-mcneil":
        total = _smallest(lambda n: z * hanley_mcneil_se(auc, *_split(n, prevalence)) <= margin)
    else:
        raise UsageError(f"AUC method must be one of {', '.join(AUC_METHODS)}, not {method!r}")
    n1, n0 = _split(total, prevalence)
    return Requirement(
        "auc", auc, margin, confidence, prevalence, total, n1, n0, method, REFERENCES[method]
    )


def _split(children: float, prevalence: float) -> tuple[float, float]:
    return children * prevalence, children * (1 - prevalence)


def _smallest(good: Any, start: int = 2, limit: int = 10**9) -> int:
    """Smallest integer n >= start with good(n) true (good is monotone in n)."""
    low, high = start, start
    while not good(high):
        if high > limit:
            raise UsageError("no cohort size reaches that margin")
        low, high = high, high * 2
    while low < high:
        mid = (low + high) // 2
        if good(mid):
            high = mid
        else:
            low = mid + 1
    return high


# ----------------------------------------------------------------------------- Se / Sp
def children_for_sensitivity_specificity(
    sensitivity: float,
    specificity: float,
    margin: float,
    prevalence: float,
    *,
    confidence: float = 0.95,
) -> tuple[Requirement, Requirement]:
    """Buderer's two requirements; enrol the larger of the two ``children``."""
    _check_unit(sensitivity, "the expected sensitivity")
    _check_unit(specificity, "the expected specificity")
    _check_common(margin, prevalence, confidence)
    z2 = _z(confidence) ** 2
    in_pain = z2 * sensitivity * (1 - sensitivity) / margin**2
    without = z2 * specificity * (1 - specificity) / margin**2
    ref = REFERENCES["buderer"]
    sens = Requirement(
        "sensitivity",
        sensitivity,
        margin,
        confidence,
        prevalence,
        math.ceil(in_pain / prevalence - 1e-9),
        in_pain,
        in_pain * (1 - prevalence) / prevalence,
        "buderer",
        ref,
    )
    spec = Requirement(
        "specificity",
        specificity,
        margin,
        confidence,
        prevalence,
        math.ceil(without / (1 - prevalence) - 1e-9),
        without * prevalence / (1 - prevalence),
        without,
        "buderer",
        ref,
    )
    return sens, spec


# ----------------------------------------------------------------------------- so far
@dataclass(frozen=True)
class Precision:
    """Half-widths reached with ``children`` children (``None`` where undefined)."""

    children: int
    children_in_pain: float
    children_without_pain: float
    confidence: float
    auc_margin: float | None
    sensitivity_margin: float | None
    specificity_margin: float | None
    counts: str  # "observed" (from the cohort) or "expected" (children x prevalence)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def precision_with(
    children: int,
    *,
    prevalence: float | None = None,
    in_pain: int | None = None,
    auc: float | None = None,
    sensitivity: float | None = None,
    specificity: float | None = None,
    confidence: float = 0.95,
    method: str = "obuchowski",
) -> Precision:
    """How wide the intervals are with ``children`` children: from the observed numbers
    in and out of pain (``in_pain``) when known, else from ``prevalence``."""
    if children < 0:
        raise UsageError("the number of children cannot be negative")
    _check_unit(confidence, "the confidence level")
    if in_pain is not None:
        if not 0 <= in_pain <= children:
            raise UsageError("children in pain must be between 0 and the children enrolled")
        n1, n0, counts = float(in_pain), float(children - in_pain), "observed"
    elif prevalence is not None:
        _check_unit(prevalence, "the prevalence of pain")
        n1, n0 = _split(children, prevalence)
        counts = "expected"
    else:
        raise UsageError("give the prevalence of pain or the children in pain")
    z = _z(confidence)
    auc_margin = sens_margin = spec_margin = None
    if auc is not None and n1 >= 1 and n0 >= 1:
        auc_margin = z * auc_se(auc, n1, n0, method)
    if sensitivity is not None and n1 > 0:
        _check_unit(sensitivity, "the sensitivity")
        sens_margin = z * math.sqrt(sensitivity * (1 - sensitivity) / n1)
    if specificity is not None and n0 > 0:
        _check_unit(specificity, "the specificity")
        spec_margin = z * math.sqrt(specificity * (1 - specificity) / n0)
    return Precision(children, n1, n0, confidence, auc_margin, sens_margin, spec_margin, counts)

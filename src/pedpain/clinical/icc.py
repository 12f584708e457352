"""Intraclass correlation for inter-rater reliability, with missing ratings allowed.

Three estimators, one per study design (Shrout and Fleiss 1979, "Intraclass correlations:
uses in assessing rater reliability", Psychological Bulletin 86:420-428; McGraw and Wong
1996 for the interval of the absolute-agreement coefficient):

- ``one_way_anova``: raters vary from session to session (the usual ward case), Shrout &
  Fleiss case 1, ICC(1,1) and ICC(1,k). One-way random-effects ANOVA with unequal group
  sizes: every session with at least 2 ratings counts, and the group size in the formulas is
  the usual effective size ``k0 = (N - sum(k_i^2) / N) / (n - 1)`` (equal to k when every
  session has k ratings).
- ``two_way_anova``: the same raters scored every session (complete table), Shrout &
  Fleiss cases 2 and 3: ICC(2,1), ICC(2,k) (absolute agreement, raters random) and
  ICC(3,1), ICC(3,k) (consistency, raters fixed), exact F-based intervals.
- ``two_way_reml``: the same team of raters, but some ratings are missing. The variance
  components of the crossed random-effects model ``score = mu + session + rater + error``
  are estimated by restricted maximum likelihood (REML), which uses every rating; the
  coefficients are the same ratios as in the complete case. Their intervals are
  approximate: the complete-table formulas applied to the mean squares those components
  imply (documented as such in the output).

Everything is returned at full precision. An interval that cannot be computed (perfect
agreement, too few sessions) is ``None`` with a warning, never NaN; an estimate outside the
coefficient's possible range (below -1/(k-1) or above 1, which ANOVA estimators produce on
degenerate data) is kept but flagged with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class Estimate:
    """One coefficient, e.g. ICC(2,k), with its interval."""

    name: str  # "ICC(1,1)", "ICC(2,k)", ...
    value: float | None
    ci: Interval
    in_range: bool


@dataclass
class IccResult:
    model: str  # "one-way" or "two-way"
    method: str  # "anova", "anova-unbalanced" or "reml"
    k: float  # ratings per session the average-measure coefficients refer to
    n_sessions: int
    n_raters: int
    n_ratings: int
    estimates: dict[str, Estimate] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _f_quantile(q: float, df1: float, df2: float) -> float:
    from scipy.stats import f

    return float(f.ppf(q, df1, df2))


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _interval(lo: float, hi: float) -> Interval:
    if not _finite(lo, hi):
        return None
    return (float(lo), float(hi))


def _spearman_brown(rho: float, k: float) -> float:
    return k * rho / (1 + (k - 1) * rho)


def _check(result: IccResult, name: str, value: float | None, ci: Interval, k: float) -> None:
    """Record one estimate; flag values outside [-1/(k-1), 1] and undefined intervals."""
    if value is not None and not math.isfinite(value):
        result.warnings.append(f"{name}: undefined on these data (0/0); reported as null")
        value, ci = None, None
    low_limit = -1.0 / (k - 1) if name.endswith(",1)") and k > 1 else -math.inf
    in_range = value is None or (low_limit - 1e-12 <= value <= 1 + 1e-12)
    if not in_range:
        result.warnings.append(
            f"{name} = {value!r} lies outside its possible range: degenerate data "
            "(e.g. rater variance below error variance); do not interpret it"
        )
    elif value is not None and value < 0:
        result.warnings.append(f"{name} is negative: no agreement beyond chance")
    result.estimates[name] = Estimate(name, value, ci, in_range)


def one_way_anova(groups: list[NDArray[np.float64]], n_raters: int, alpha: float) -> IccResult:
    """ICC(1,1) and ICC(1,k) from sessions of unequal size (each at least 2 ratings)."""
    n = len(groups)
    sizes = np.array([len(g) for g in groups], dtype=float)
    big_n = float(sizes.sum())
    k0 = (big_n - float((sizes**2).sum()) / big_n) / (n - 1)
    balanced = bool(np.all(sizes == sizes[0]))
    res = IccResult(
        "one-way", "anova" if balanced else "anova-unbalanced", k0, n, n_raters, int(big_n)
    )
    grand = float(np.concatenate(groups).mean())
    means = np.array([g.mean() for g in groups])
    msb = float((sizes * (means - grand) ** 2).sum()) / (n - 1)
    msw = float(sum(((g - g.mean()) ** 2).sum() for g in groups)) / (big_n - n)
    single = (msb - msw) / (msb + (k0 - 1) * msw) if msb + (k0 - 1) * msw > 0 else math.nan
    average = (msb - msw) / msb if msb > 0 else math.nan
    ci1 = cik = None
    if msw > 0 and msb > 0:
        f0 = msb / msw
        fl = f0 / _f_quantile(1 - alpha / 2, n - 1, big_n - n)
        fu = f0 * _f_quantile(1 - alpha / 2, big_n - n, n - 1)
        ci1 = _interval((fl - 1) / (fl + k0 - 1), (fu - 1) / (fu + k0 - 1))
        cik = _interval(1 - 1 / fl, 1 - 1 / fu)
    elif msw == 0 and msb > 0:
        res.warnings.append(
            "perfect agreement within every session: the interval is undefined (null)"
        )
    _check(res, "ICC(1,1)", single, ci1, k0)
    _check(res, "ICC(1,k)", average, cik, k0)
    return res


def two_way_anova(table: NDArray[np.float64], alpha: float) -> IccResult:
    """Shrout & Fleiss cases 2 and 3 from a complete sessions x raters table."""
    n, k = table.shape
    res = IccResult("two-way", "anova", float(k), n, k, n * k)
    grand = float(table.mean())
    row = table.mean(axis=1)
    col = table.mean(axis=0)
    bms = k * float(((row - grand) ** 2).sum()) / (n - 1)
    jms = n * float(((col - grand) ** 2).sum()) / (k - 1)
    resid = table - row[:, None] - col[None, :] + grand
    df_e = (n - 1) * (k - 1)
    ems = float((resid**2).sum()) / df_e
    _two_way_estimates(res, bms, jms, ems, n, float(k), df_e, alpha, exact=True)
    return res


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else math.nan


def _two_way_estimates(
    res: IccResult,
    bms: float,
    jms: float,
    ems: float,
    n: int,
    k: float,
    df_e: float,
    alpha: float,
    *,
    exact: bool,
) -> None:
    icc21 = _ratio(bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n)
    icc2k = _ratio(bms - ems, bms + (jms - ems) / n)
    icc31 = _ratio(bms - ems, bms + (k - 1) * ems)
    icc3k = _ratio(bms - ems, bms)
    ci21 = ci2k = ci31 = ci3k = None
    if ems > 0 and bms > 0 and df_e > 0:
        f0 = bms / ems
        fl = f0 / _f_quantile(1 - alpha / 2, n - 1, df_e)
        fu = f0 * _f_quantile(1 - alpha / 2, df_e, n - 1)
        ci31 = _interval((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
        ci3k = _interval(1 - 1 / fl, 1 - 1 / fu)
        if math.isfinite(icc21) and icc21 < 1:
            # McGraw & Wong (1996), case 2A: Satterthwaite's degrees of freedom.
            a = k * icc21 / (n * (1 - icc21))
            b = 1 + k * icc21 * (n - 1) / (n * (1 - icc21))
            den = (a * jms) ** 2 / (k - 1) + (b * ems) ** 2 / df_e
            v = (a * jms + b * ems) ** 2 / den if den > 0 else math.nan
            if math.isfinite(v) and v > 0:
                fs = _f_quantile(1 - alpha / 2, n - 1, v)
                fs2 = _f_quantile(1 - alpha / 2, v, n - 1)
                c = k * jms + (k * n - k - n) * ems
                lo = n * (bms - fs * ems) / (fs * c + n * bms)
                hi = n * (fs2 * bms - ems) / (c + n * fs2 * bms)
                ci21 = _interval(lo, hi)
                if ci21 is not None:
                    ci2k = _interval(_spearman_brown(lo, k), _spearman_brown(hi, k))
    elif ems == 0 and bms > 0:
        res.warnings.append(
            "perfect consistency (no residual variance): the intervals are undefined (null)"
        )
    if not exact and (ci21 or ci31):
        res.warnings.append(
            "intervals are approximate: the complete-table formulas applied to the mean "
            "squares implied by the REML variance components"
        )
    _check(res, "ICC(2,1)", icc21, ci21, k)
    _check(res, "ICC(2,k)", icc2k, ci2k, k)
    _check(res, "ICC(3,1)", icc31, ci31, k)
    _check(res, "ICC(3,k)", icc3k, ci3k, k)


def two_way_reml(
    sessions: NDArray[np.int64],
    raters: NDArray[np.int64],
    scores: NDArray[np.float64],
    alpha: float,
) -> IccResult:
    """Crossed random effects (session, rater) by REML; ratings may be missing."""
    from scipy.optimize import minimize

    y = scores.astype(float)
    big_n = len(y)
    n = int(sessions.max()) + 1
    j = int(raters.max()) + 1
    # Z'Z of the two random effects: diagonal per block plus the session x rater incidence,
    # so the mixed-model equations are solved through the small rater block (Schur
    # complement) in O(n j + j^3), not O((n + j)^3): ward studies have many sessions.
    session_sizes = np.bincount(sessions, minlength=n).astype(float)
    rater_sizes = np.bincount(raters, minlength=j).astype(float)
    incidence = np.zeros((n, j))
    np.add.at(incidence, (sessions, raters), 1.0)
    zty = np.concatenate(
        [np.bincount(sessions, y, minlength=n), np.bincount(raters, y, minlength=j)]
    )
    ztx = np.concatenate([session_sizes, rater_sizes])
    yty = float(y @ y)
    sy = float(y.sum())
    scale = float(y.var()) or 1.0

    def parts(theta: NDArray[np.float64]) -> tuple[float, float, float]:
        """-2 REML log-likelihood (up to a constant), beta and the residual variance."""
        s2s, s2r, s2e = np.exp(theta) * scale
        a = session_sizes + s2e / s2s  # the diagonal session block of C = Z'Z + s2e D^-1
        d = rater_sizes + s2e / s2r
        b_over_a = incidence / a[:, None]
        schur = np.diag(d) - incidence.T @ b_over_a
        chol = np.linalg.cholesky(schur)
        logdet_c = float(np.log(a).sum()) + 2 * float(np.log(np.diag(chol)).sum())

        def solve(rhs: NDArray[np.float64]) -> NDArray[np.float64]:
            r1, r2 = rhs[:n], rhs[n:]
            x2 = np.linalg.solve(schur, r2 - b_over_a.T @ r1)
            x1 = (r1 - incidence @ x2) / a
            return np.concatenate([x1, x2])

        c_zty = solve(zty)
        c_ztx = solve(ztx)
        # V^-1 = (I - Z C^-1 Z') / s2e, so these are the quadratic forms s2e * a' V^-1 b.
        xvx = (big_n - float(ztx @ c_ztx)) / s2e
        xvy = (sy - float(ztx @ c_zty)) / s2e
        yvy = (yty - float(zty @ c_zty)) / s2e
        beta = xvy / xvx
        quad = yvy - 2 * beta * xvy + beta * beta * xvx
        logdet_v = (
            (big_n - n - j) * math.log(s2e) + n * math.log(s2s) + j * math.log(s2r) + logdet_c
        )
        return logdet_v + math.log(xvx) + quad, beta, s2e

    def objective(theta: NDArray[np.float64]) -> float:
        try:
            return parts(theta)[0]
        except np.linalg.LinAlgError:
            return math.inf

    best = None
    bounds = [(-18.0, 6.0)] * 3
    for start in ([-1.0, -1.0, -1.0], [0.0, -3.0, -1.0], [-3.0, 0.0, -1.0]):
        fit = minimize(objective, np.array(start), method="L-BFGS-B", bounds=bounds)
        if best is None or fit.fun < best.fun:
            best = fit
    assert best is not None
    s2s, s2r, s2e = (float(v) for v in np.exp(best.x) * scale)
    # Components at the lower bound are zero for practical purposes.
    floor = math.exp(-17.0) * scale
    s2s, s2r, s2e = (0.0 if v < floor else v for v in (s2s, s2r, s2e))
    sizes = np.bincount(sessions, minlength=n).astype(float)
    k0 = (big_n - float((sizes**2).sum()) / big_n) / (n - 1)
    res = IccResult("two-way", "reml", k0, n, j, big_n)
    # Mean squares a complete n x k0 table with these components would have in expectation.
    bms = s2e + k0 * s2s
    jms = s2e + n * s2r
    ems = s2e
    df_e = float(big_n - n - j + 1)
    _two_way_estimates(res, bms, jms, ems, n, k0, df_e, alpha, exact=False)
    return res

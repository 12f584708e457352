"""Sample size for the prospective cohort, checked against published worked examples and
against simulation (the formula must describe how an empirical AUC really varies)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from pedpain.core.errors import UsageError
from pedpain.study import power as pw


def test_buderer_matches_the_published_tables() -> None:
    # Buderer's formula as tabulated by Hajian-Tilaki (J Biomed Inform 2014, Table 1) and
    # Malhotra & Indrayan (Indian J Ophthalmol 2010, Table 1): sensitivity 0.90, +/-0.05,
    # prevalence 10% -> 1383 children; +/-0.10 -> 346.
    sens, spec = pw.children_for_sensitivity_specificity(0.90, 0.90, 0.05, 0.10)
    assert sens.children == 1383
    assert math.isclose(sens.children_in_pain, 138.3, abs_tol=0.05)
    # Specificity needs n0 = 138.3 children without pain = 154 enrolled at 10% prevalence.
    assert spec.children == 154
    assert pw.children_for_sensitivity_specificity(0.90, 0.90, 0.10, 0.10)[0].children == 346
    # Sensitivity 0.70, +/-0.05, prevalence 0.10 -> 3227 (same tables).
    assert pw.children_for_sensitivity_specificity(0.70, 0.9, 0.05, 0.10)[0].children == 3227


def test_hanley_mcneil_worked_example() -> None:
    # Hanley & McNeil 1982: 58 abnormal and 51 normal CT images, area 0.893. Their eq. 2
    # with the exponential approximations of Q1 and Q2 gives SE 0.0312 (the paper's 0.032
    # uses the Q1, Q2 observed in the rating data).
    se = pw.hanley_mcneil_se(0.893, 58, 51)
    assert se == pytest.approx(0.03118, abs=5e-5)
    # Symmetry and the chance line: A = 0.5 with n per class gives (1/12 + 1/12)/n + ...
    n = 40
    expected = math.sqrt((0.25 + 2 * (n - 1) * (1 / 3 - 0.25)) / (n * n))
    assert pw.hanley_mcneil_se(0.5, n, n) == pytest.approx(expected, rel=1e-12)


def test_obuchowski_variance_by_hand() -> None:
    # V = 0.0099 exp(-a^2/2) (6 a^2 + 16) for equal groups, a = 1.414 Phi^-1(0.70).
    a = 1.414 * stats.norm.ppf(0.70)
    v = 0.0099 * math.exp(-a * a / 2) * (6 * a * a + 16)
    assert pw.obuchowski_v(0.70, 1.0) == pytest.approx(v, rel=1e-12)
    req = pw.children_for_auc(0.70, 0.05, 0.5)
    z = stats.norm.ppf(0.975)
    assert req.children_in_pain == pytest.approx(223.5, abs=0.5)  # ceil(2 * z^2 V / d^2) / 2
    assert req.children == math.ceil(z * z * v / 0.05**2 / 0.5)
    # The two methods agree within about 10% for a moderate AUC.
    hm = pw.children_for_auc(0.70, 0.05, 0.5, method="hanley-mcneil")
    assert abs(hm.children - req.children) / req.children < 0.1


def test_hanley_mcneil_describes_the_spread_of_simulated_aucs() -> None:
    # Q1, Q2 are exact when scores are exponential: simulate AUC 0.85 with 30 + 50 cases.
    rng = np.random.default_rng(3)
    target, n1, n0, reps = 0.85, 30, 50, 3000
    rate0 = target / (1 - target)  # P(X > Y) = rate0 / (rate0 + 1) for X ~ Exp(1)
    x = rng.exponential(1.0, (reps, n1))
    y = rng.exponential(1.0 / rate0, (reps, n0))
    aucs = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    assert aucs.mean() == pytest.approx(target, abs=0.005)
    assert aucs.std(ddof=1) == pytest.approx(pw.hanley_mcneil_se(target, n1, n0), rel=0.06)


def test_the_margin_reached_shrinks_as_children_are_enrolled() -> None:
    req = pw.children_for_auc(0.80, 0.05, 0.3)
    at_target = pw.precision_with(req.children, prevalence=0.3, auc=0.80)
    assert at_target.auc_margin is not None and at_target.auc_margin <= 0.05
    short = pw.precision_with(req.children - 40, prevalence=0.3, auc=0.80)
    assert short.auc_margin is not None and short.auc_margin > 0.05
    observed = pw.precision_with(100, in_pain=30, sensitivity=0.9, specificity=0.8)
    assert observed.counts == "observed"
    assert observed.sensitivity_margin == pytest.approx(1.959964 * math.sqrt(0.09 / 30), 1e-5)
    assert pw.precision_with(0, prevalence=0.3, auc=0.8).auc_margin is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pw.children_for_auc(0.8, 0.0, 0.3), "margin"),
        (lambda: pw.children_for_auc(0.8, 0.05, 1.0), "prevalence"),
        (lambda: pw.children_for_auc(0.4, 0.05, 0.3), "AUC"),
        (lambda: pw.children_for_auc(0.8, 0.05, 0.3, method="magic"), "method"),
        (lambda: pw.children_for_sensitivity_specificity(1.0, 0.8, 0.05, 0.3), "sensitivity"),
        (lambda: pw.precision_with(10, in_pain=11), "between"),
    ],
)
def test_bad_values_are_usage_errors(call, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=message):
        call()


def test_cli_answers_and_cites(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("study", "power", "--sensitivity", "0.9", "--specificity", "0.9", "--margin",
            "0.05", "--prevalence", "0.1", "--enrolled", "500", "--json")  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["children_needed"] == 1383
    assert doc["so_far"]["children"] == 500
    assert doc["so_far"]["sensitivity_margin"] == pytest.approx(
        1.959964 * math.sqrt(0.09 / 50), rel=1e-5
    )
    help_text = cli("study", "power", "--help").out
    for citation in ("Hanley", "Obuchowski", "Buderer", "Exit codes"):
        assert citation in help_text
    bad = cli("study", "power", "--auc", "0.8", "--margin", "0.7", "--prevalence", "0.3")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "margin" in bad.err
    none = cli("study", "power", "--margin", "0.05", "--prevalence", "0.3")
    assert none.code == 2 and "nothing to plan" in none.err
    no_db = cli("study", "power", "--auc", "0.8", "--margin", "0.05")
    assert no_db.code == 2 and "--prevalence" in no_db.err

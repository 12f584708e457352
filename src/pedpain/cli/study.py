"""``pedpain study power``: children needed for the prospective cohort, and the precision
reached with the children validated so far."""

from __future__ import annotations

from typing import Any

import typer

from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of

app = typer.Typer(
    help=(
        "Planning the prospective cohort. " + GROUP_EXIT_CODES + "\n\n"
        "\b\nExamples:\n  pedpain study power --auc 0.80 --margin 0.05 --prevalence 0.3"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("power")
def power(
    ctx: typer.Context,
    margin: float = typer.Option(
        ...,
        "--margin",
        help="Half-width of the confidence interval wanted (the +/- value, e.g. 0.05).",
    ),
    prevalence: float | None = typer.Option(
        None,
        "--prevalence",
        help="Share of assessments in pain at the threshold (default: observed in the cohort).",
    ),
    auc: float | None = typer.Option(None, "--auc", help="Expected AUC (0.5-1)."),
    sensitivity: float | None = typer.Option(
        None, "--sensitivity", help="Expected sensitivity at the therapeutic threshold."
    ),
    specificity: float | None = typer.Option(
        None, "--specificity", help="Expected specificity at the therapeutic threshold."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level."),
    method: str = typer.Option(
        "obuchowski", "--method", help="AUC variance: obuchowski (binormal) or hanley-mcneil."
    ),
    enrolled: int | None = typer.Option(
        None,
        "--enrolled",
        min=0,
        help="Children validated so far (default: counted in the study database, if any).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Children needed to estimate the AUC, or sensitivity and specificity at the
    threshold, to within +/- MARGIN at a given prevalence of pain; and how wide the
    intervals are with the children validated so far.

    AUC: Hanley JA & McNeil BJ, Radiology 1982;143:29-36 (--method hanley-mcneil), or
    Obuchowski NA, Invest Radiol 1994;29:238-243, binormal variance as in Hajian-Tilaki K,
    J Biomed Inform 2014;48:193-204 (default). Sensitivity and specificity: Buderer NMF,
    Acad Emerg Med 1996;3:895-900 (enrol the larger of the two numbers). One assessment
    per child is assumed: a child's sessions are correlated, so this is conservative.

    Exit codes: 0 answered; 2 bad values (e.g. a margin or prevalence outside 0-1, or
    nothing to plan: give --auc and/or --sensitivity/--specificity); 4 the study database
    cannot be opened (only when --enrolled or --prevalence must be read from it).

    \b
    Examples:
      pedpain study power --auc 0.80 --margin 0.05 --prevalence 0.3
      pedpain study power --sensitivity 0.85 --specificity 0.80 --margin 0.07 --prevalence 0.3
      pedpain study power --auc 0.85 --margin 0.05 --enrolled 120 --prevalence 0.35 --json
    """
    from pedpain.core.errors import UsageError
    from pedpain.study import power as pw

    if auc is None and sensitivity is None and specificity is None:
        raise UsageError("nothing to plan: give --auc and/or --sensitivity and --specificity")
    if (sensitivity is None) != (specificity is None):
        raise UsageError("give both --sensitivity and --specificity (Buderer plans both)")
    if method not in pw.AUC_METHODS:
        raise UsageError(f"--method must be one of {', '.join(pw.AUC_METHODS)}")
    observed = None
    if enrolled is None or prevalence is None:
        observed = _observed(ctx)
        if prevalence is None:
            if observed is None or observed["prevalence"] is None:
                raise UsageError(
                    "give --prevalence (no cohort data in the study database to observe it)"
                )
            prevalence = float(observed["prevalence"])
        if enrolled is None:
            enrolled = int(observed["children"]) if observed else 0
    doc: dict[str, Any] = {
        "margin": margin,
        "confidence": confidence,
        "prevalence": prevalence,
        "requirements": [],
        "observed": observed,
    }
    if auc is not None:
        doc["requirements"].append(
            pw.children_for_auc(
                auc, margin, prevalence, confidence=confidence, method=method
            ).to_dict()
        )
    if sensitivity is not None and specificity is not None:
        for req in pw.children_for_sensitivity_specificity(
            sensitivity, specificity, margin, prevalence, confidence=confidence
        ):
            doc["requirements"].append(req.to_dict())
    doc["children_needed"] = max(r["children"] for r in doc["requirements"])
    doc["so_far"] = pw.precision_with(
        enrolled or 0,
        prevalence=prevalence,
        auc=auc,
        sensitivity=sensitivity,
        specificity=specificity,
        confidence=confidence,
        method=method,
    ).to_dict()
    if as_json:
        print_json(doc)
        return
    level = f"{confidence:.0%}"
    for r in doc["requirements"]:
        typer.echo(
            f"{r['quantity']} {r['expected']:g} +/- {margin:g} ({level} CI) at prevalence "
            f"{prevalence:g}: {r['children']} children ({r['children_in_pain']:.0f} in pain, "
            f"{r['children_without_pain']:.0f} without) [{r['method']}: {r['reference']}]"
        )
    typer.echo(f"children needed: {doc['children_needed']}")
    s = doc["so_far"]
    reached = [
        f"{name} +/- {s[key]:.3f}"
        for name, key in (
            ("AUC", "auc_margin"),
            ("sensitivity", "sensitivity_margin"),
            ("specificity", "specificity_margin"),
        )
        if s[key] is not None
    ]
    typer.echo(
        f"with {s['children']} children so far: "
        + (", ".join(reached) if reached else "too few children for an interval")
    )


def _observed(ctx: typer.Context) -> dict[str, Any] | None:
    """Children validated so far and the share of sessions in pain, for the active model;
    None when there is no database or no cohort yet."""
    from pathlib import Path

    from pedpain.core.errors import PedpainError
    from pedpain.store import open_store
    from pedpain.store.engine import database_url
    from pedpain.study.cohort import progress

    settings = settings_of(ctx)
    url = database_url(settings)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    with open_store(settings) as store:
        try:
            p = progress(store, settings)
        except PedpainError:
            return None
    return {
        "model": p.model.label,
        "children": p.children,
        "sessions": p.sessions,
        "children_in_pain": p.children_in_pain,
        "prevalence": p.prevalence,
    }

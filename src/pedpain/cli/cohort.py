"""``pedpain cohort validate``: the prospective cohort's bedside AI assessments against the
raters' consensus or the nurses' BPS, from the study database, as an evaluation report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from pedpain import DISCLAIMER
from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of

app = typer.Typer(
    help=(
        "The prospective cohort: the bedside AI validated against the raters and the nurses. "
        + GROUP_EXIT_CODES
        + "\n\n"
        "\b\nExamples:\n  pedpain cohort validate --out cohort-report/\n"
        "  pedpain cohort validate --out by-model/ --model all --reference bps"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("validate")
def validate(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder for report.html, metrics.json, CSVs."),
    reference: str = typer.Option(
        "consensus",
        "--reference",
        help="consensus: the 3 blinded raters' consensus, with the nurse's BPS as comparator "
        "(DeLong, McNemar); bps: the nurse's BPS ('the currently accepted pain scale').",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Registry id, model folder, name or sha256 of the model whose assessments to "
        "validate; 'all' for one section per model (never pooled). Default: the active model.",
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only sessions assessed on or after this date (YYYY-MM-DD)."
    ),
    include_training_subjects: bool = typer.Option(
        False,
        "--include-training-subjects",
        help="Keep children the model was trained or tuned on (optimistic; said in the report).",
    ),
    include_unblinded_bps: bool = typer.Option(
        False,
        "--include-unblinded-bps",
        help="Keep BPS scores entered after the AI score was shown (not blind to the AI).",
    ),
    bootstrap: int = typer.Option(
        2000, "--bootstrap", min=0, help="Subject-level bootstrap resamples for the AUC CI."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print the index (cohort.json) on stdout."),
) -> None:
    """Validate the bedside AI on the prospective cohort, from the study database.

    Builds one row per session (AI score and probability, consensus, BPS, age, sex, group,
    time point, hours since surgery, model name/version/sha256, whether the BPS was blind
    to the AI) into predictions.csv and runs the evaluation on it: the same metrics.json,
    report and plots as 'pedpain evaluate predictions' on that file. Every session left
    out is counted by reason (voided, AI abstained/failed, child trained on by the model,
    no consensus or BPS) in cohort.json and in the report.

    Exit codes: 0 report written; 2 bad option, unknown model or a model without
    assessments; 3 the accounting was written but no session could be evaluated (it says
    what is missing); 4 no database or media key.

    \b
    Examples:
      pedpain cohort validate --out cohort-report/
      pedpain cohort validate --out cohort-bps/ --reference bps --since 2026-09-01
      pedpain cohort validate --out by-model/ --model all --json
    """
    from pedpain.core.errors import UsageError
    from pedpain.store import open_store
    from pedpain.study.cohort import CohortOptions, validate_cohort

    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise UsageError(f"--since must be a date like 2026-09-01, not {since!r}") from None
    options = CohortOptions(
        reference=reference.strip().lower(),
        model=model,
        since=start,
        include_training_subjects=include_training_subjects,
        include_unblinded_bps=include_unblinded_bps,
    )
    options.check()
    settings = settings_of(ctx)
    with open_store(settings) as store:
        index = validate_cohort(store, settings, out, options, n_bootstrap=bootstrap, seed=seed)
    if as_json:
        print_json(index)
        return
    for section in index["models"]:
        typer.echo(section["summary"])
        m = section.get("metrics") or {}
        if m:
            ci = m.get("auc_ci95") or [None, None]
            f = lambda v: "undefined" if v is None else f"{v:.3f}"  # noqa: E731
            typer.echo(
                f"  AUC {f(m['auc'])} [{f(ci[0])}-{f(ci[1])}]  sensitivity "
                f"{f(m['sensitivity'])}  specificity {f(m['specificity'])}  ICC(3,1) "
                f"{f(m['icc_3_1'])}  MAE {f(m['mae'])}"
            )
            typer.echo(f"  report: {section['report']}")
    typer.echo(DISCLAIMER)

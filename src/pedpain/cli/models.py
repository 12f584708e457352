"""``pedpain models``: the model registry, champion/challenger comparison and promotion."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain import DISCLAIMER
from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of

app = typer.Typer(
    help=(
        "The model registry (PEDPAIN_HOME/models): list, compare a challenger with the "
        "champion, promote. " + GROUP_EXIT_CODES + "\n\n"
        "\b\nExamples:\n  pedpain models list\n"
        "  pedpain models compare active new-model --out cmp/\n"
        "  pedpain models promote new-model --comparison cmp/"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """The model folders in the registry, the active one first.

    Exit codes: 0 listed; 2 bad usage.

    \b
    Examples:
      pedpain models list --json
    """
    from pedpain.models.catalog import list_models

    models = list_models(settings_of(ctx))
    if as_json:
        print_json([{k: v for k, v in m.items() if k != "card"} for m in models])
        return
    for m in models:
        mark = "*" if m["active"] else " "
        typer.echo(
            f"{mark} {m['id']}  {m['name']} {m['version'] or ''}  {(m['sha256'] or '')[:12]}"
        )
    if not models:
        typer.echo(f"no model folders in {settings_of(ctx).home}/models")


@app.command("compare")
def compare(
    ctx: typer.Context,
    champion: str = typer.Argument(..., help="Registry id, 'active', or model folder (A)."),
    challenger: str = typer.Argument(..., help="Registry id or model folder (B)."),
    out: Path = typer.Option(..., "--out", help="Folder for comparison.json/.csv, report.html."),
    on: str = typer.Option(
        "cohort",
        "--on",
        help="cohort: the prospective cohort's rated sessions (stored media); or an export "
        "folder made with 'pedpain db export --with-media' (its test split).",
    ),
    exclude_overlap: bool = typer.Option(
        False,
        "--exclude-overlap",
        help="Leave out children either model was trained or tuned on (refused otherwise).",
    ),
    bootstrap: int = typer.Option(2000, "--bootstrap", min=0, help="Resamples of children."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    as_json: bool = JSON,
) -> None:
    """Champion (A) against challenger (B) on the same held-out children, paired.

    Both models score every session through the bedside engine. Reported: AUC difference
    (B - A) with DeLong's paired test and a children-level bootstrap interval, McNemar on
    correct calls at each child's Table 1 threshold, MAE difference with a bootstrap
    interval, and a verdict against the non-inferiority margins in the study settings
    (study_noninferiority_auc, study_noninferiority_mae).

    Exit codes: 0 comparison written (whatever the verdict); 2 unknown or damaged model,
    no session to compare on, or a model trained on some of the children (the count is
    given; --exclude-overlap leaves them out); 4 no database or media key.

    \b
    Examples:
      pedpain models compare active transfer-v2 --out cmp-v2/
      pedpain models compare models/a models/b --on exports/export-1/ --out cmp/ --json
    """
    from pedpain.study.promotion import compare_models, comparison_lines

    settings = settings_of(ctx)
    if on == "cohort":
        from pedpain.store import open_store

        with open_store(settings) as store:
            doc = compare_models(settings, champion, challenger, out, store=store, on=on,
                                 exclude_overlap=exclude_overlap, n_bootstrap=bootstrap,
                                 seed=seed)  # fmt: skip
    else:
        doc = compare_models(settings, champion, challenger, out, on=on,
                             exclude_overlap=exclude_overlap, n_bootstrap=bootstrap,
                             seed=seed)  # fmt: skip
    if as_json:
        print_json(doc)
        return
    typer.echo("\n".join(comparison_lines(doc)))
    typer.echo(f"comparison {doc['id']}: {Path(out) / 'comparison.json'}")
    typer.echo(DISCLAIMER)


@app.command("promote")
def promote(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Registry id of the model to make active."),
    comparison: Path | None = typer.Option(
        None, "--comparison", help="Folder (or comparison.json) of 'pedpain models compare'."
    ),
    override_reason: str | None = typer.Option(
        None,
        "--override-reason",
        help="Make it active without a passing comparison (e.g. a rollback); recorded.",
    ),
    actor: str | None = typer.Option(None, "--actor", help="Who, for the audit log."),
    as_json: bool = JSON,
) -> None:
    """Make a registry model active, on the comparison it passed against the active model.

    The audit log records the comparison (id, verdict, AUC and MAE differences). The first
    model needs no comparison; otherwise one is required unless --override-reason says why.

    Exit codes: 0 promoted; 2 unknown model, no or failing comparison (verdict not
    superior/non-inferior, other champion or challenger); 4 no database.

    \b
    Examples:
      pedpain models promote transfer-v2 --comparison cmp-v2/
      pedpain models promote transfer-v1 --override-reason "v2 crashes on clips"
    """
    from pedpain.store import open_store
    from pedpain.study.promotion import promote as promote_model

    settings = settings_of(ctx)
    with open_store(settings, actor=actor) as store:
        doc = promote_model(store, settings, model, comparison, override_reason=override_reason)
    if as_json:
        print_json(doc)
        return
    typer.echo(f"{model} is now the active model ({doc['action']}).")

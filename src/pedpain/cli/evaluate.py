"""``pedpain evaluate``: metrics, plots and the HTML report for a model's predictions.

The contract has two forms: ``pedpain evaluate --model M --data D --out DIR`` (a trained
model on a dataset) and ``pedpain evaluate predictions CSV --out DIR`` (a table of scores).
Both end in :func:`pedpain.evaluation.evaluate_predictions`; the model form only has to
produce the predictions table first. The group callback takes the model form's options and
runs when no subcommand is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from pedpain import DISCLAIMER
from pedpain.cli.common import GROUP_EXIT_CODES, print_json
from pedpain.core.errors import EnvironmentProblem, InputsRejected, UsageError
from pedpain.evaluation.defaults import DEFAULT_THRESHOLD

if TYPE_CHECKING:
    from pedpain.evaluation.api import EvaluationResult

app = typer.Typer(
    help=(
        "Evaluate pain scores against the reference: AUC with a subject-level 95% CI, "
        "sensitivity/specificity, ICC, Pearson r, MSE, MAE, comparison with the nurses' "
        "score, subgroups, calibration, and a self-contained HTML report.\n\n"
        "\b\nExamples:\n"
        "  pedpain evaluate predictions preds.csv --out eval/\n"
        "  pedpain evaluate predictions preds.csv --out eval/ --threshold 3 --json\n\n"
        + GROUP_EXIT_CODES
    ),
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def evaluate(
    ctx: typer.Context,
    model: Path | None = typer.Option(None, "--model", help="Trained model folder."),
    data: Path | None = typer.Option(
        None, "--data", help="UNBC-McMaster tree, or a 'pedpain preprocess' output folder."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="With a preprocessed folder: CSV of input, subject_id, target."
    ),
    out: Path | None = typer.Option(None, "--out", help="Folder for the report and tables."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Pain threshold on the model's scale (default: the model's)."
    ),
    include_training_subjects: bool = typer.Option(
        False,
        "--include-training-subjects",
        help="Also score subjects the model was trained on (optimistic; marked in the report).",
    ),
    confounders: bool = typer.Option(
        False,
        "--confounders",
        help="Also run the phantom confounder check (does the model rank pain within "
        "smiling, yawning, talking, sleeping, frowning, pacifier and crying faces, and score "
        "those expressions alone low?) and add its section to the report (about a minute).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json on stdout."),
) -> None:
    """Evaluate a model on a dataset (--model --data --out), or a table of scores
    ('predictions'). Subjects the model was trained on are left out.

    Exit codes: 0 evaluated; 1 bug; 2 bad usage (missing --model/--data/--out, data not
    found); 3 rows rejected; 4 environment problem (model folder missing or damaged).

    \b
    Examples:
      pedpain evaluate --model models/source --data /data/UNBC --out eval-unbc/
      pedpain evaluate --model models/transfer --data faces/ --labels labels.csv --out eval/
      pedpain evaluate predictions preds.csv --out eval/
    """
    if ctx.invoked_subcommand is not None:
        if model is not None or data is not None or out is not None:
            raise UsageError(
                f"--model/--data/--out go after '{ctx.invoked_subcommand}', not before it"
            )
        return
    if model is None and data is None and out is None:
        sys.stderr.write(ctx.get_help() + "\n")
        raise typer.Exit(2)
    if model is None or data is None or out is None:
        raise UsageError("evaluating a model needs --model, --data and --out")
    if not model.exists():
        raise EnvironmentProblem(f"no model at {model}: give a trained model folder")
    if not data.exists():
        raise UsageError(f"data not found: {data}")
    from pedpain.evaluation.model_eval import evaluate_model

    result = evaluate_model(
        model,
        data,
        out,
        labels=labels,
        threshold=threshold,
        include_training_subjects=include_training_subjects,
        confounders=confounders,
    )
    if as_json:
        print_json(result.document)
    else:
        _print_summary(result)


@app.command("predictions")
def predictions(
    csv_path: Path = typer.Argument(
        ...,
        metavar="CSV",
        help="Table with subject_id, reference, prediction [, comparator, threshold, "
        "probability, session_id, clip_id, fold, age_months, sex, time_point, group].",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for report.html, metrics.json, CSVs."),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="Therapeutic threshold on the table's scale, when it has no threshold column. "
        "Default: Table 1's threshold for each child's age when there is age_months, else "
        f"{DEFAULT_THRESHOLD:g}/10.",
    ),
    scale_max: float = typer.Option(
        10.0,
        "--scale-max",
        help="Maximum of the scale the scores are on: 10 (pedpain's 0-10) or 16 for PSPI "
        "(source model on UNBC-McMaster). Metrics are reported on 0-10, plus MSE/MAE on "
        "this scale.",
    ),
    split: str | None = typer.Option(
        None, "--split", help="How the predictions were obtained, e.g. 'leave-one-subject-out'."
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name for the report."),
    model_card: Path | None = typer.Option(
        None, "--model-card", help="JSON or YAML model card to include in the report."
    ),
    bootstrap: int = typer.Option(
        2000, "--bootstrap", min=0, help="Subject-level bootstrap resamples for the AUC CI."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    min_subjects: int = typer.Option(
        10, "--min-subjects", min=1, help="Fewest children for a subgroup to be reported."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json on stdout."),
) -> None:
    """Metrics and a report from a CSV of scores (one row per frame, clip or photo).

    Pain is 'reference >= threshold'; a prediction >= threshold counts as pain; the AUC
    ranks by prediction. The AUC 95% CI resamples whole children (frames of a child are
    correlated); DeLong's interval is given beside it. Rows with an empty reference,
    prediction or subject_id are dropped and counted (exit 3 after writing); text that is
    not a number, values outside the scale or a missing column refuse the file (exit 2).

    Exit codes: 0 evaluated; 1 bug; 2 bad usage (columns, thresholds, options); 3 rows
    rejected; 4 environment problem (output folder).

    \b
    Examples:
      pedpain evaluate predictions docs/examples/predictions_example.csv --out eval/
      pedpain evaluate predictions unbc_loso.csv --out eval-unbc/ --scale-max 16 --threshold 3
    """
    from pedpain.evaluation.api import Protocol, evaluate_predictions_csv

    card = _read_model_card(model_card) if model_card is not None else None
    result = evaluate_predictions_csv(
        csv_path,
        out,
        threshold=threshold,
        scale_max=scale_max,
        protocol=Protocol(split=split, dataset=dataset),
        model_card=card,
        n_bootstrap=bootstrap,
        seed=seed,
        min_subgroup_subjects=min_subjects,
    )
    if as_json:
        print_json(result.document)
    else:
        _print_summary(result)
    if result.n_dropped:
        raise InputsRejected(
            f"{result.n_dropped} of {result.document['n_input_rows']} rows had an empty "
            f"required value and were left out (report written to {out})"
        )


def _read_model_card(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"model card not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        card = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"model card {path} is not valid JSON/YAML: {exc}") from None
    if not isinstance(card, dict):
        raise UsageError(f"model card {path} must be a mapping of fields to values")
    return card


def _print_summary(result: EvaluationResult) -> None:
    d = result.document

    def f(value: float | None, digits: int = 3) -> str:
        return "undefined" if value is None else f"{value:.{digits}f}"

    def ci(pair: list[float] | None) -> str:
        return f" [{f(pair[0])}-{f(pair[1])}]" if pair else ""

    threshold = f"{d['threshold']:g}/10" if d["threshold"] is not None else "per row"
    lines = [
        f"{d['n']} rows, {d['n_subjects']} subjects, threshold {threshold} "
        f"({d['n_positive']} pain, {d['n_negative']} no pain); split: {d['protocol']['split']}",
        f"model:      AUC {f(d['auc'])}{ci(d['auc_ci95'])}  sensitivity {f(d['sensitivity'])}"
        f"  specificity {f(d['specificity'])}  ICC(3,1) {f(d['icc_3_1'])}  r {f(d['pcc'])}"
        f"  MAE {f(d['mae'])}",
    ]
    other = d["comparator"]
    if other:
        lines.append(
            f"comparator: AUC {f(other['auc'])}{ci(other['auc_ci95'])}  sensitivity "
            f"{f(other['sensitivity'])}  specificity {f(other['specificity'])}  DeLong p "
            f"{f(other['delong_p'])}  McNemar p {f(other['mcnemar_p'])}"
        )
    for warning in d["warnings"]:
        lines.append(f"warning: {warning}")
    lines.append(f"report: {result.files.get('report')}")
    lines.append(DISCLAIMER)
    typer.echo("\n".join(lines))

"""``pedpain export onnx``: a deployable model."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of

app = typer.Typer(
    help=("Export models for deployment. " + GROUP_EXIT_CODES),
    no_args_is_help=True,
)


@app.command("onnx")
def onnx(
    ctx: typer.Context,
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model folder [env PEDPAIN_MODEL; default models/active]."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="ONNX file to write (default MODEL/model.onnx)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Export a model folder to ONNX (dynamo exporter). The ONNX model is checked against
    PyTorch on random faces (max abs difference <= 1e-4) before anything is written.
    Written into the model folder as model.onnx, it becomes the default CPU backend of
    'pedpain assess' (ONNX Runtime), as long as its checksum matches.

    Exit codes: 0 exported and verified; 1 bug; 2 bad usage; 4 environment problem (model
    folder missing or damaged, ONNX disagrees with PyTorch).

    \b
    Examples:
      pedpain export onnx --model models/bedside
      pedpain export onnx --model models/bedside --out deploy/bedside.onnx --json
    """
    from pedpain.assess.backend import export_onnx
    from pedpain.models.bundle import ONNX_FILE, load_model_folder, resolve_model_folder

    settings = settings_of(ctx)
    folder = resolve_model_folder(model, settings)
    loaded = load_model_folder(folder)
    report = export_onnx(loaded, out or folder / ONNX_FILE)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"ONNX model written to {report.path} (max abs diff vs PyTorch {report.max_abs_diff:.1e})"
    )

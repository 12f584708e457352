"""``pedpain unbc``: look into a UNBC-McMaster tree (a licence holder's copy or a replica)."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain.cli.common import GROUP_EXIT_CODES, print_json
from pedpain.data.unbc import UnbcArchive

app = typer.Typer(
    help=(
        "The UNBC-McMaster Shoulder Pain Expression Archive (licence holders' copies). "
        + GROUP_EXIT_CODES
    ),
    no_args_is_help=True,
)


@app.command("summary")
def summary(
    root: Path = typer.Argument(..., help="Archive root (holds Images/ and Frame_Labels/)."),
    no_scan: bool = typer.Option(
        False, "--no-scan", help="Do not read images; count only the known black frames."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """What a UNBC-McMaster tree holds: subjects, sequences, frames, PSPI, black frames.

    Exit codes: 0 summarised; 1 bug; 2 bad usage (not a UNBC-McMaster tree).

    \b
    Examples:
      pedpain unbc summary /data/UNBC --json
      pedpain unbc summary ./unbc-phantom --no-scan
    """
    result = UnbcArchive(root).summary(scan_images=not no_scan)
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(f"UNBC-McMaster tree at {result.root}")
    typer.echo(
        f"  subjects {result.subjects}, sequences {result.sequences}, frames {result.frames}"
    )
    share = result.frames_pspi_positive / result.frames if result.frames else 0.0
    typer.echo(f"  frames with PSPI > 0: {result.frames_pspi_positive} ({share:.1%})")
    how = "scanned" if result.black_frames_scanned else "known list only"
    typer.echo(f"  black frames: {result.black_frames} ({how})")
    typer.echo(
        f"  landmarks: {'yes' if result.has_landmarks else 'no'}; "
        f"sequence labels: {'yes' if result.has_sequence_labels else 'no'}"
    )
    hist = ", ".join(f"{k}: {v}" for k, v in result.pspi_histogram.items() if v)
    typer.echo(f"  PSPI histogram: {hist or 'no labels'}")
    if result.frames_without_pspi:
        typer.echo(f"  frames without a PSPI file: {result.frames_without_pspi}")
    for problem in result.problems[:20]:
        typer.echo(f"  note: {problem}", err=True)

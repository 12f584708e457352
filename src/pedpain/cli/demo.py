"""``pedpain demo``: the study pipeline on built-in data, stage by stage."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain import DISCLAIMER
from pedpain.cli.common import print_json
from pedpain.pipeline.demo import demo_stages, epilogue
from pedpain.pipeline.stages import StageResult, run_stages


def demo(
    workdir: Path = typer.Option(
        Path("pedpain-demo"), "--workdir", help="Folder for everything the demo makes."
    ),
    quick: bool = typer.Option(False, "--quick", help="Smaller data and shorter training."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Run the study pipeline on built-in synthetic data; rerunning reuses finished stages.

    Exit codes: 0 every stage done; 1 bug; 2 bad usage; 4 environment problem (disk, face
    models, device).

    \b
    Examples:
      pedpain demo --workdir /tmp/pedpain-demo --quick
    """

    def show(result: StageResult) -> None:
        if as_json:
            return
        how = "reused" if result.reused else f"{result.seconds:.1f} s"
        typer.echo(f"[{result.name}] {result.title}: done ({how})")

    if not as_json:
        typer.echo(DISCLAIMER)
        typer.echo(f"Demo workdir: {workdir}")
    results = run_stages(demo_stages(quick), workdir, show)
    if as_json:
        print_json(
            {
                "workdir": str(workdir),
                "stages": [
                    {"name": r.name, "seconds": r.seconds, "reused": r.reused, "summary": r.summary}
                    for r in results
                ],
            }
        )
        return
    for line in epilogue({r.name: r.summary for r in results}):
        typer.echo(line)

"""``pedpain assess``: pain assessment of photos and clips."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain.cli.common import print_json, settings_of
from pedpain.core.errors import InputsRejected, UsageError


def assess(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(..., help="Photos or clips (one assessment each)."),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder [env PEDPAIN_MODEL; default PEDPAIN_HOME/models/active].",
    ),
    age: str | None = typer.Option(
        None, "--age", help="The child's age (30m, 4y, 4y6m): adds the age-appropriate scale."
    ),
    group: bool = typer.Option(
        False, "--group", help="All INPUTs are 1-3 photos of ONE assessment (one result)."
    ),
    baseline: list[Path] = typer.Option(
        None, "--baseline", help="A neutral photo of the same child (repeatable)."
    ),
    explain: bool = typer.Option(
        False,
        "--explain",
        help="Add the facial measures (AU4, AU6/7, AU9/10, AU43, mouth) to the explanation "
        "(not computed by default: the score does not need them).",
    ),
    heatmap: Path | None = typer.Option(
        None,
        "--heatmap",
        help="Write a Grad-CAM heat map PNG per assessment into this folder (implies --explain).",
    ),
    backend: str = typer.Option(
        "auto",
        "--backend",
        help="auto (ONNX Runtime when a verified model.onnx exists), torch, onnx.",
    ),
    analysis_fps: float | None = typer.Option(
        None,
        "--analysis-fps",
        help="Clip frames analysed per second (default 10, 2.5 for VGG/ResNet-50).",
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="Inference threads."),
    frames: bool = typer.Option(False, "--frames", help="With --json: add per-frame scores."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list on stdout."),
) -> None:
    """Assess pain from the face in photos or clips (the protocol's 10 s video).

    Each result has status ok (a score on 0-10, the pain probability and, with --age, the
    score on the age-appropriate observer scale with needs_treatment), abstain (readable,
    but no face good enough: no face, too small, blurred, badly exposed, turned away,
    covered, or another person; no score is guessed) or error (unreadable file).
    The JSON's timings_ms says where the time went (decode, detect, landmarks, align,
    quality, model, pooling, explain; a clip's stages overlap on threads).
    Exit codes: 0 every input scored; 2 bad usage; 3 some inputs abstained or failed (all
    results are still printed); 4 no model. Research software, not a medical device.

    \b
    Examples:
      pedpain assess photo.jpg --model models/bedside --age 4y --json
      pedpain assess p1.jpg p2.jpg p3.jpg --group --age 30m
      pedpain assess clip.mp4 --explain --heatmap heatmaps/ --json
    """
    from pedpain.assess.engine import Assessor

    if backend not in ("auto", "torch", "onnx"):
        raise UsageError(f"--backend must be auto, torch or onnx, not {backend!r}")
    if group and not 1 <= len(inputs) <= 3:
        raise UsageError("--group takes 1 to 3 photos")
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise UsageError(f"input not found: {missing[0]}")
    settings = settings_of(ctx)
    items: list[object] = [list(inputs)] if group else list(inputs)
    with Assessor(
        model or settings.model,
        backend=backend,  # type: ignore[arg-type]
        home=settings.home,
        analysis_fps=analysis_fps,
        threads=threads,
    ) as engine:
        results = [
            engine.assess(item, age, baseline or None, heatmap, explain)  # type: ignore[arg-type]
            for item in items
        ]
    if as_json:
        print_json([r.to_dict(frames=frames) for r in results])
    else:
        for r in results:
            if r.status == "ok":
                line = (
                    f"{r.input}: score {r.score:.1f}/10, pain probability {r.pain_probability:.2f}"
                )
                if r.scale:
                    s = r.scale
                    treat = "treatment indicated" if r.needs_treatment else "below threshold"
                    line += f"; {s['name']} {s['score']:g}/{s['max']:g} ({treat})"
                typer.echo(f"{line} [{r.frames_used} face(s), {r.latency_ms:.0f} ms]")
            else:
                typer.echo(f"{r.input}: {r.status}: {r.reason}")
        typer.echo(f"Model {r.model['name']} {r.model['version']} ({r.model['sha256'][:12]}).")
    bad = [r for r in results if r.status != "ok"]
    if bad:
        raise InputsRejected(
            f"{len(bad)} of {len(results)} assessments gave no score "
            f"({', '.join(sorted({r.reason_code for r in bad}))})"
        )

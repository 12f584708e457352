"""``pedpain phantom``: synthetic cohorts for tests, the demo and training rehearsals."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import typer

from pedpain import DISCLAIMER
from pedpain.cli.common import GROUP_EXIT_CODES, print_json
from pedpain.core.errors import UsageError

app = typer.Typer(
    help=(
        "Synthetic (phantom) data: an OAPC-FEI cohort or a UNBC-McMaster-layout tree. "
        + GROUP_EXIT_CODES
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _progress(label: str) -> Callable[[int, int], None] | None:
    from pedpain.core.progress import progress_enabled

    if not progress_enabled():
        return None

    def show(done: int, total: int) -> None:
        import sys

        sys.stderr.write(f"\r{label}: {done}/{total} subjects")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


@app.command("oapc")
def oapc(
    out: Path = typer.Argument(..., help="New (or empty) folder to write the cohort into."),
    subjects: int = typer.Option(40, "--subjects", help="Number of children."),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same files."),
    no_videos: bool = typer.Option(False, "--no-videos", help="Photos only (much faster)."),
    photo_size: str = typer.Option(
        "large",
        "--photo-size",
        help="large (5616x3744, 21 MP, as the protocol asks) or small (768x512, for tests).",
    ),
    video_seconds: float = typer.Option(
        10.0, "--video-seconds", help="Length of each clip (25 fps, 640x480)."
    ),
    workers: int = typer.Option(1, "--workers", help="Processes generating subjects in parallel."),
    no_confounders: bool = typer.Option(
        False,
        "--no-confounders",
        help="The earlier phantom: no smiling/yawning/talking/sleeping/frowning/pacifier/"
        "crying-without-pain faces, every pain action from one latent, plain skin shading.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Write a synthetic OAPC-FEI cohort in pedpain's import layout.

    Every child has a phantom face (never a real person), 3 photos and a 10 s clip per time
    point (pain, relieved, unrelieved, no_pain; controls: no_pain), 3 raters' scores on the
    scale fitting its age, a self-report from 6 years, the bedside nurse's BPS score and
    the true latent pain. About one child in five breaks an inclusion or exclusion rule.
    About half the photos and clips also show an expression that is not pain (smiling,
    laughing, yawning, talking, sleeping, a concentration frown, pacifier sucking, crying
    without pain), drawn independently of pain; truth/ holds per-photo and per-frame
    ground truth (action units, confounder, pain_pspi). A killed run resumes where it
    stopped when rerun with the same options. Its half-written files are swept, the
    result is byte-identical; --workers processes die with the command.

    Exit codes: 0 written; 1 bug; 2 bad usage (sizes, seed, folder; a non-empty OUT made
    otherwise); 130 stopped by Ctrl-C (rerun to finish).

    \b
    Examples:
      pedpain phantom oapc cohort/ --subjects 40 --seed 7
      pedpain phantom oapc small/ --subjects 6 --photo-size small --no-videos --json
    """
    from pedpain.data.phantom.oapc import CohortParams, generate_cohort

    if workers < 1:
        raise UsageError("--workers must be at least 1")
    params = CohortParams(
        subjects=subjects,
        seed=seed,
        videos=not no_videos,
        photo_size=photo_size,
        video_seconds=video_seconds,
        confounders=not no_confounders,
    )
    start = time.perf_counter()
    summary = generate_cohort(out, params, workers=workers, progress=_progress("phantom oapc"))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        print_json(summary)
        return
    what = "already complete" if summary["reused"] else "written"
    typer.echo(
        f"Synthetic cohort {what}: {summary['out']} ({summary['subjects']} subjects, "
        f"{summary['sessions']} sessions, {summary['media']} media files, "
        f"{summary['seconds']:.1f} s). {DISCLAIMER}"
    )


@app.command("unbc")
def unbc(
    out: Path = typer.Argument(..., help="New (or empty) folder for the tree."),
    subjects: int = typer.Option(25, "--subjects", help="How many of the 25 archive subjects."),
    frames_per_sequence: int = typer.Option(
        24, "--frames-per-sequence", help="Frames in each sequence (001..K)."
    ),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same files."),
    layout: str = typer.Option(
        "standard",
        "--layout",
        help="standard; doubled (Images/Images/..., as zip extraction "
        "makes); kaggle (Images and Frame_Labels only).",
    ),
    aam_style: str = typer.Option(
        "plain", "--aam-style", help="AAM landmark numbers: plain 'x y' or matlab ('   %.7e')."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
    no_confounders: bool = typer.Option(
        False,
        "--no-confounders",
        help="The earlier phantom: no smiling/yawning/talking/sleeping/frowning/pacifier/"
        "crying-without-pain faces, every pain action from one latent, plain skin shading.",
    ),
) -> None:
    """Write a synthetic tree in the UNBC-McMaster Shoulder Pain Archive's licensee layout.

    Real subject and sequence names, MATLAB-ascii labels, empty FACS files for frames with
    no action unit, PSPI = AU4 + max(AU6,AU7) + max(AU9,AU10) + AU43, 66 AAM points, VAS,
    OPR, AFF and SEN per sequence, and the black frames tv095t2aeunaff001-007 (subject
    095-tv095 is generated first). About a third of the sequences also show a confounder
    (smiling, yawning, talking, ...; its AU6/AU12 are coded in FACS and count in PSPI as a
    coder would count them); phantom_truth.csv names it and gives pain_pspi, the PSPI of
    the pain expression alone. Not the archive, and not derived from it.

    Exit codes: 0 written; 1 bug; 2 bad usage (sizes, seed, folder).

    \b
    Examples:
      pedpain phantom unbc unbc-phantom/ --subjects 25 --frames-per-sequence 24
      pedpain phantom unbc kaggle-copy/ --subjects 3 --layout kaggle --json
    """
    from pedpain.data.phantom.unbc import UnbcParams, generate_unbc

    params = UnbcParams(
        subjects=subjects,
        frames_per_sequence=frames_per_sequence,
        seed=seed,
        layout=layout,
        aam_style=aam_style,
        confounders=not no_confounders,
    )
    start = time.perf_counter()
    summary = generate_unbc(out, params, progress=_progress("phantom unbc"))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        print_json(summary)
        return
    what = "already complete" if summary["reused"] else "written"
    typer.echo(
        f"Synthetic UNBC-layout tree {what}: {summary['out']} ({summary['subjects']} subjects, "
        f"{summary['sequences']} sequences, {summary['frames']} frames, "
        f"{summary['seconds']:.1f} s). {DISCLAIMER}"
    )

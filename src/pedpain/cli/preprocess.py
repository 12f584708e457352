"""``pedpain preprocess``: aligned, normalised faces from photos and videos."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain.cli.common import print_json, settings_of
from pedpain.core.errors import InputsRejected, PedpainError, UsageError
from pedpain.core.progress import track
from pedpain.vision.config import FACE_POLICIES, PreprocessConfig
from pedpain.vision.detect import available_detectors


def preprocess(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(
        ..., help="Photos, videos or folders (searched recursively).", show_default=False
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (created; reruns resume)."),
    size: int = typer.Option(256, "--size", help="Side of the square aligned face, pixels."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes [env PEDPAIN_WORKERS; default 1]."
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local (process pool) or ray (RAY_ADDRESS or a local Ray)."
    ),
    detector: str = typer.Option("mediapipe", "--detector", help="mediapipe or haar (fallback)."),
    face_policy: str = typer.Option(
        "consistent",
        "--face-policy",
        help="Which face when several: consistent (follows the subject; largest first), "
        "largest, or center.",
    ),
    image_format: str = typer.Option("jpg", "--image-format", help="jpg (quality 95) or png."),
    denoise: bool = typer.Option(
        True, "--denoise/--no-denoise", help="Bilateral denoising of luminance."
    ),
    white_balance: bool = typer.Option(
        True, "--white-balance/--no-white-balance", help="Grey-world white balance."
    ),
    clahe: bool = typer.Option(True, "--clahe/--no-clahe", help="CLAHE on luminance."),
    max_seconds: float = typer.Option(10.0, "--max-seconds", help="Longest video clip kept."),
    min_sharpness: float = typer.Option(
        12.0, "--min-sharpness", help="Frames below this Laplacian variance are too_blurred."
    ),
    max_megapixels: float = typer.Option(
        100.0, "--max-megapixels", help="Larger photos are refused as too_large."
    ),
    shard_size: int = typer.Option(1024, "--shard-size", help="Faces per packed shard."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Detect, align and normalise the face in photos and videos for the models.

    Writes into OUT: items.csv (one row per input, its status), frames.csv (one row per
    output frame with the face box, validity and quality measures), faces/ (aligned
    SIZE x SIZE images), packed/ (uint8 .npy shards + index.csv for training),
    preprocess.json (every parameter). Rerunning skips files already done.

    Videos are resampled to 25 fps (sample and hold) and cut to at most --max-seconds
    (10 s = 250 frames); of a longer clip the window with the most valid frames is kept
    (earliest on ties). Invalid frames stay in frames.csv with valid=0 and a reason
    (no_face, wrong_face, face_too_small, too_blurred, too_dark, too_bright); a frame
    with a face has an image even when invalid, a no_face frame has an empty path.

    Exit codes: 0 all inputs usable (multiple_faces is usable, flagged for a check);
    3 some inputs rejected (no_face, low_quality, unreadable, too_large, unsupported),
    the rest written; 2 bad usage; 4 a face model or the TFLite interpreter is missing
    (nothing processed); 1 pedpain itself failed on an input (a bug: items.csv says
    "processing failed", a rerun retries it); 130 stopped by Ctrl-C (the worker pool is
    ended at once; a rerun reuses what was finished).

    \b
    Examples:
      pedpain preprocess photos/ clips/ --out faces-out
      pedpain preprocess clip.mp4 --out out --size 224 --workers 2 --json
      pedpain preprocess study/ --out out --face-policy largest --no-clahe
    """
    settings = settings_of(ctx)
    n_workers = workers if workers is not None else settings.workers
    if not 1 <= n_workers <= 256:
        raise UsageError("--workers must be between 1 and 256")
    if engine not in ("local", "ray"):
        raise UsageError(f"--engine must be local or ray, not {engine!r}")
    if detector not in available_detectors():
        raise UsageError(f"--detector must be one of {', '.join(available_detectors())}")
    if face_policy not in FACE_POLICIES:
        raise UsageError(f"--face-policy must be one of {', '.join(FACE_POLICIES)}")
    if not 1 <= shard_size <= 1_000_000:
        raise UsageError("--shard-size must be between 1 and 1000000")
    if not 0 < max_megapixels <= 10_000 or not 0 < max_seconds <= 3600:
        raise UsageError("--max-megapixels and --max-seconds must be positive and sensible")
    try:
        config = PreprocessConfig(
            size=size,
            detector=detector,
            face_policy=face_policy,  # type: ignore[arg-type]
            image_format=image_format,  # type: ignore[arg-type]
            denoise=denoise,
            white_balance=white_balance,
            clahe=clahe,
            max_seconds=max_seconds,
            min_sharpness=min_sharpness,
            max_megapixels=max_megapixels,
        )
    except ValueError as exc:
        raise UsageError(f"--size/--image-format: {exc}") from None
    from pedpain.vision.pipeline import run_preprocess

    summary = run_preprocess(
        inputs,
        out,
        config,
        workers=n_workers,
        engine=engine,
        shard_size=shard_size,
        progress=track,
    )
    if as_json:
        print_json(
            {k: summary[k] for k in ("items", "ok", "rejected", "frames_out", "seconds")}
            | {k: v for k, v in summary.items() if k not in ("seconds",)}
        )
    else:
        typer.echo(
            f"{summary['items']} inputs: {summary['ok']} usable, {summary['rejected']} "
            f"rejected; {summary['frames_out']} frames ({summary['valid_frames']} valid) "
            f"in {out} [{summary['seconds']:.1f} s]"
        )
    if summary["failed"]:  # pedpain itself failed on them: a bug, not bad input
        raise PedpainError(
            f"{summary['failed']} of {summary['items']} inputs failed inside pedpain (a bug; "
            f"'processing failed' in {out / 'items.csv'}; --debug logs the traceback)"
        )
    if summary["rejected"]:
        raise InputsRejected(
            f"{summary['rejected']} of {summary['items']} inputs rejected; see {out / 'items.csv'}"
        )

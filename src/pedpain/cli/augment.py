"""``pedpain augment``: the conditional GAN (train, sample) and the ablation that says
whether its faces help a pain model."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain import DISCLAIMER
from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of
from pedpain.core.errors import UsageError

app = typer.Typer(
    help=(
        "GAN augmentation: synthetic pain faces per level, and whether they help. "
        + GROUP_EXIT_CODES
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _quiet_lightning(level: str) -> None:
    from pedpain.training.chatter import quiet_lightning_logs

    if level != "debug":
        quiet_lightning_logs()


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".pedpain-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to {folder}: {exc.strerror or exc}") from None


@app.command("gan-train")
def gan_train(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="GAN YAML (see configs/gan_*.yaml)."),
    overrides: list[str] = typer.Argument(
        None, help="KEY=VALUE overrides, dotted: train.iterations=500 gan.size=128"
    ),
    out: Path | None = typer.Option(
        None, "--out", help="GAN folder to write (default: PEDPAIN_HOME/models/<name>)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Train the conditional GAN on the training subjects of the config's split.

    The folder gets the generator, its moving average, the discriminator, config.yaml,
    samples.png (one row per pain level), metrics.json and a model card that says its
    faces are synthetic. A killed run resumes when rerun; a finished folder is reused.
    Set quality.encoder to a pain-model folder for the Frechet distance and the
    conditioning check.

    Exit codes: 0 trained (or reused); 1 bug; 2 bad usage or config; 4 environment problem
    (data, device, folder).

    \b
    Examples:
      pedpain augment gan-train --config configs/gan_unbc64.yaml data.root=/data/UNBC
      pedpain augment gan-train -c configs/gan_unbc64.yaml gan.size=128 --out models/gan128
    """
    from pedpain.training import train_from_config
    from pedpain.training.gan import load_gan_config

    settings = settings_of(ctx)
    load_gan_config(config, overrides or [])  # a pain-model config here is a usage error
    run = train_from_config(config, overrides or [], out, settings=settings, kind="gan")
    if not run.main:
        return  # a DDP worker process: rank 0 reports
    folder, metrics = run.folder, run.gan_metrics
    doc = run.to_dict()
    if as_json:
        print_json(doc)
        return
    state = " (reused)" if metrics.get("reused") else ""
    typer.echo(
        f"GAN written to {folder}{state}: {metrics.get('iterations')} iterations, sample grid "
        f"{folder / 'samples.png'}. Its faces are synthetic. {DISCLAIMER}"
    )


def _levels(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise UsageError(f"--levels must be integers separated by commas, not {text!r}") from None


@app.command("gan-sample")
def gan_sample(
    model: Path = typer.Option(..., "--model", "-m", help="GAN folder (from gan-train)."),
    per_level: int = typer.Option(..., "--per-level", "-n", help="Faces per pain level."),
    out: Path = typer.Option(..., "--out", help="New (or empty) folder for the samples."),
    levels: str | None = typer.Option(
        None, "--levels", help="Only these levels, e.g. 0,4,8 (default: every level)."
    ),
    seed: int = typer.Option(0, "--seed", help="Noise seed; the same seed gives the same faces."),
    no_ema: bool = typer.Option(
        False, "--no-ema", help="Sample the raw generator instead of its moving average."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Write synthetic faces with their conditioning labels.

    Every file is named synthetic-gan-L<level>-<n>.png and carries a PNG note;
    labels.csv (file, level, target, target_scale, seed, synthetic=1, generator) and
    samples.json say synthetic too, so they can only ever join a training split
    (augment.gan_samples in a training config). Exit 2 for a missing or non-GAN folder,
    --per-level below 1 or an unwritable --out; 4 for damaged weights.

    Exit codes: 0 samples written; 1 bug; 2 bad usage (levels, counts, folder); 4
    environment problem (GAN folder missing or damaged).

    \b
    Examples:
      pedpain augment gan-sample --model models/pain-gan --per-level 100 --out gan-faces/
      pedpain augment gan-sample -m models/pain-gan -n 8 --levels 0,8,16 --out peek/ --json
    """
    from pedpain.models.gan_bundle import load_gan_folder
    from pedpain.training.synthetic import write_gan_samples

    if per_level <= 0:
        raise UsageError("--per-level must be at least 1")
    wanted = _levels(levels)
    gan = load_gan_folder(model)
    summary = write_gan_samples(gan, out, per_level, seed=seed, levels=wanted, use_ema=not no_ema)
    doc = {
        "out": str(out),
        "count": summary["count"],
        "levels": summary["params"]["levels"],
        "per_level": per_level,
        "synthetic": True,
        "reused": summary["reused"],
    }
    if as_json:
        print_json(doc)
        return
    shown = doc["levels"]
    levels_text = (
        f"{shown[0]}-{shown[-1]}"
        if shown == list(range(shown[0], shown[-1] + 1))
        else ", ".join(map(str, shown))
    )
    typer.echo(
        f"{doc['count']} synthetic faces in {out} (labels.csv, synthetic=1; "
        f"levels {levels_text}). Training splits only."
    )


@app.command("ablation")
def ablation(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="Training experiment YAML."),
    gan: Path = typer.Option(..., "--gan", help="GAN folder (trained on the same split)."),
    overrides: list[str] = typer.Argument(
        None, help="KEY=VALUE overrides of the training config: train.epochs=5"
    ),
    seeds: int = typer.Option(3, "--seeds", help="Training seeds per arm (0..N-1)."),
    per_level: int = typer.Option(50, "--per-level", help="GAN faces sampled per level."),
    ratio: float | None = typer.Option(
        None, "--ratio", help="Share of synthetic training faces (default: augment.gan_ratio)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Report folder (default: PEDPAIN_HOME/runs/ablation-<name>)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Train the same model without augmentation, with classic augmentation, with GAN
    samples and with both, on one subject-wise split and several seeds; report the
    differences with 95% intervals (t over seeds, bootstrap over test subjects) in
    ablation.json and ablation.md. Finished runs are reused when rerun.

    Exit codes: 0 every arm trained and compared; 1 bug; 2 bad usage or config; 4
    environment problem (data, model folders, device).

    \b
    Examples:
      pedpain augment ablation --config configs/source_unbc_loso.yaml --gan models/pain-gan \\
        split.kind=holdout --seeds 3
      pedpain augment ablation -c exp.yaml --gan models/pain-gan --seeds 2 train.epochs=3 --json
    """
    from pedpain.data.face_tables import load_face_table
    from pedpain.training.ablation import run_ablation
    from pedpain.training.config import load_experiment

    if seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if per_level <= 0:
        raise UsageError("--per-level must be at least 1")
    if ratio is not None and not 0 < ratio < 1:
        raise UsageError("--ratio must be between 0 and 1 (exclusive)")
    settings = settings_of(ctx)
    experiment = load_experiment(config, overrides or [])
    folder = out or settings.home / "runs" / f"ablation-{experiment.name}"
    _writable(folder)
    _quiet_lightning(settings.log_level)
    table = load_face_table(experiment.data, folder / ".data")
    report = run_ablation(experiment, table, gan, folder, seeds, per_level, ratio)
    doc = {
        "out": str(folder),
        "report": str(folder / "ablation.md"),
        "arms": report["arms"],
        "comparisons": report["comparisons"],
        "gan_quality": report["gan_quality"],
    }
    if as_json:
        print_json(doc)
        return
    for c in report["comparisons"]:
        mae = c["mae"]
        ci = mae["ci95"]
        shown = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "(one seed)"
        typer.echo(
            f"{c['treatment']} vs {c['control']}: dMAE {mae['mean']:+.3f} {shown} -> {c['verdict']}"
        )
    typer.echo(f"Report: {folder / 'ablation.md'}")

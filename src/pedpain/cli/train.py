"""``pedpain train``: source and transfer training from a YAML experiment config."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from pedpain.cli.common import print_json, settings_of
from pedpain.core.progress import progress_enabled


def train(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="Experiment YAML (see configs/)."),
    overrides: list[str] = typer.Argument(
        None,
        help="KEY=VALUE overrides of the config, dotted: train.epochs=3 model.backbone=resnet18",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Model folder to write (default: PEDPAIN_HOME/models/<name>)."
    ),
    devices: str | None = typer.Option(
        None, "--devices", help="Devices per node (e.g. 4, or auto) [trainer.devices]."
    ),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Lightning strategy, e.g. ddp [trainer.strategy]."
    ),
    num_nodes: int | None = typer.Option(
        None, "--num-nodes", min=1, help="Machines taking part [trainer.num_nodes]."
    ),
    accelerator: str | None = typer.Option(
        None, "--accelerator", help="cpu, gpu or auto [trainer.accelerator]."
    ),
    precision: str | None = typer.Option(
        None, "--precision", help="e.g. bf16-mixed, 16-mixed, 32-true, auto [trainer.precision]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Train a pain model: the source stage on UNBC-McMaster or the transfer stage on
    children's faces. Folds are always by subject; a killed run resumes when rerun.

    \b
    Examples:
      pedpain train --config configs/source_unbc_vgg16.yaml data.root=/data/UNBC
      pedpain train --config configs/transfer_oapc.yaml source_model=models/source train.epochs=5
      pedpain train --config configs/source_unbc_vgg16.yaml --devices 4 --strategy ddp
    """
    from pedpain.training.chatter import quiet_lightning_logs
    from pedpain.training.config import load_experiment
    from pedpain.training.run import run_experiment
    from pedpain.training.study_db import record_in_study_database
    from pedpain.training.tables import load_face_table

    settings = settings_of(ctx)
    flags = {
        "devices": devices,
        "strategy": strategy,
        "num_nodes": num_nodes,
        "accelerator": accelerator,
        "precision": precision,
    }
    # The flags are shorthands for trainer.* overrides and win over them.
    extra = [f"trainer.{k}={v}" for k, v in flags.items() if v is not None]
    experiment = load_experiment(config, [*(overrides or []), *extra])
    folder = out or experiment.out or settings.home / "models" / experiment.name
    if settings.log_level != "debug":
        quiet_lightning_logs()
    table = load_face_table(experiment.data, folder.parent / f".{folder.name}-data")
    results = run_experiment(experiment, table, folder, progress=progress_enabled())
    if os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return  # a DDP worker process: rank 0 reports
    registered = None
    if experiment.data.kind == "faces" and experiment.data.labels is not None:
        registered = record_in_study_database(
            settings, experiment.data.labels, experiment.name, folder, [r.folder for r in results]
        )
    doc = {
        "model": str(folder),
        "stage": experiment.stage,
        "folds": [
            {"fold": r.fold, "folder": str(r.folder), "reused": r.reused, **r.metrics}
            for r in results
        ],
        "registered_model_run": registered,
    }
    if as_json:
        print_json(doc)
        return
    for r in results:
        shown = ", ".join(
            f"{k} {r.metrics[k]:.3f}" for k in ("mae", "pcc", "auc") if r.metrics.get(k) is not None
        )
        typer.echo(f"{r.fold}: {shown} -> {r.folder}{' (reused)' if r.reused else ''}")
    typer.echo(f"Model written to {folder}")

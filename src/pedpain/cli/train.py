"""``pedpain train``: source and transfer training from a YAML experiment config."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain.cli.common import print_json, settings_of


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
    """Train a pain model: the source stage on UNBC-McMaster, the transfer stage on
    children's faces, the distill stage (a bedside student learning a teacher), the
    temporal stage (a clip head over a frame model) or, with a GAN config, the GAN.
    Every stage runs on the same trainer: the --devices/--strategy/--precision flags and
    trainer.* settings mean the same everywhere. Folds are always by subject; a killed
    run resumes from its last checkpoint when rerun, to the same weights.

    Exit codes: 0 trained (or reused), 1 bug, 2 bad usage or config,
    3 inputs rejected, 4 environment problem (data, model folder, device).

    \b
    Examples:
      pedpain train --config configs/source_unbc_vgg16.yaml data.root=/data/UNBC
      pedpain train --config configs/transfer_oapc.yaml source_model=models/source train.epochs=5
      pedpain train --config configs/source_unbc_vgg16.yaml --devices 4 --strategy ddp
    """
    from pedpain.training import train_from_config

    flags = {
        "devices": devices,
        "strategy": strategy,
        "num_nodes": num_nodes,
        "accelerator": accelerator,
        "precision": precision,
    }
    # The flags are shorthands for trainer.* overrides and win over them.
    extra = [f"trainer.{k}={v}" for k, v in flags.items() if v is not None]
    run = train_from_config(config, [*(overrides or []), *extra], out, settings=settings_of(ctx))
    if not run.main:
        return  # a DDP worker process: rank 0 reports
    doc = run.to_dict()
    folder = run.folder
    results = run.folds
    if run.kind == "gan":
        if as_json:
            print_json(doc)
        else:
            typer.echo(f"GAN written to {folder}; its faces are synthetic.")
        return
    if as_json:
        print_json(doc)
        return
    for r in results:
        shown = ", ".join(
            f"{k} {r.metrics[k]:.3f}" for k in ("mae", "pcc", "auc") if r.metrics.get(k) is not None
        )
        typer.echo(f"{r.fold}: {shown} -> {r.folder}{' (reused)' if r.reused else ''}")
    typer.echo(f"Model written to {folder}")

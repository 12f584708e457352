"""``train_from_config``: the one way a training run starts, for ``pedpain train``,
``pedpain augment gan-train`` and the demo alike.

It reads the YAML (a pain-model experiment, or a GAN config: one with a ``gan``
section), applies the ``key=value`` overrides, picks the output and the face-cache
folders, trains on the shared trainer (``pedpain.training.trainer``), and, in the main
process only, records a model trained on a study-database export in that database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback

from pedpain.core.errors import UsageError
from pedpain.core.progress import progress_enabled
from pedpain.core.settings import Settings, load_settings, read_config_file
from pedpain.data.face_tables import load_face_table
from pedpain.training.chatter import quiet_lightning_logs
from pedpain.training.config import apply_overrides, load_experiment
from pedpain.training.folds import FoldResult


@dataclass
class TrainingRun:
    """What a run produced. ``main`` is False in a DDP worker (rank > 0), which
    reports nothing: rank 0 writes the folder and reports."""

    kind: Literal["model", "gan"]
    stage: str
    folder: Path
    main: bool
    folds: list[FoldResult] = field(default_factory=list)
    gan_metrics: dict[str, Any] = field(default_factory=dict)
    registered_model_run: int | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "gan":
            return {
                "model": str(self.folder),
                "stage": "gan",
                "samples_png": str(self.folder / "samples.png"),
                **self.gan_metrics,
            }
        return {
            "model": str(self.folder),
            "stage": self.stage,
            "folds": [
                {"fold": r.fold, "folder": str(r.folder), "reused": r.reused, **r.metrics}
                for r in self.folds
            ],
            "registered_model_run": self.registered_model_run,
        }


def is_gan_config(doc: dict[str, Any]) -> bool:
    return "gan" in doc or doc.get("stage") == "gan"


def train_from_config(
    config: str | Path | None,
    overrides: Sequence[str] = (),
    out: Path | None = None,
    *,
    settings: Settings | None = None,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    actor: str | None = None,
    kind: Literal["auto", "model", "gan"] = "auto",
) -> TrainingRun:
    """Train what ``config`` (+ ``overrides``) describes into ``out`` (default: the
    config's ``out``, else ``PEDPAIN_HOME/models/<name>``). A rerun resumes a killed run
    or reuses a finished one. ``callbacks`` join every fit (monitoring, tests).
    ``kind``: ``auto`` tells a GAN config by its ``gan`` section (or ``stage: gan``)."""
    settings = settings if settings is not None else load_settings()
    if settings.log_level != "debug":
        quiet_lightning_logs()
    progress = progress_enabled() if progress is None else progress
    doc = apply_overrides(read_config_file(config) if config is not None else {}, list(overrides))
    if kind == "gan" or (kind == "auto" and is_gan_config(doc)):
        return _train_gan(config, overrides, out, settings, progress, callbacks)
    experiment = load_experiment(config, list(overrides))
    folder = Path(out or experiment.out or settings.home / "models" / experiment.name)
    _writable(folder)
    table = load_face_table(experiment.data, folder.parent / f".{folder.name}-data")
    from pedpain.training.run import run_experiment

    results = run_experiment(experiment, table, folder, progress, callbacks)
    run = TrainingRun("model", experiment.stage, folder, _is_main(), folds=results)
    if run.main and experiment.data.kind == "faces" and experiment.data.labels is not None:
        from pedpain.training.study_db import record_in_study_database

        run.registered_model_run = record_in_study_database(
            settings,
            experiment.data.labels,
            experiment.name,
            folder,
            [r.folder for r in results],
            actor=actor,
        )
    return run


def _train_gan(
    config: str | Path | None,
    overrides: Sequence[str],
    out: Path | None,
    settings: Settings,
    progress: bool,
    callbacks: Sequence[Callback],
) -> TrainingRun:
    from pedpain.training.gan import load_gan_config, run_gan

    # ``stage: gan`` may name the kind of run; the GAN config itself has no stage.
    gan_config = load_gan_config(config, list(overrides), allow_stage=True)
    folder = Path(out or gan_config.out or settings.home / "models" / gan_config.name)
    _writable(folder)
    table = load_face_table(gan_config.data, folder.parent / f".{folder.name}-data")
    metrics = run_gan(gan_config, table, folder, progress, callbacks)
    return TrainingRun("gan", "gan", folder, _is_main(), gan_metrics=metrics)


def _is_main() -> bool:
    """Rank 0 of a (possibly distributed) run, as Lightning set it up."""
    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".pedpain-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to {folder}: {exc.strerror or exc}") from None

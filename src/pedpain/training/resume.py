"""What a training run finds when it starts in a folder a killed run left behind.

``prepare_resume(folder)`` is called once before the trainer is built: it sweeps the
temporaries of killed checkpoint and output writes (``checkpoints/.last.ckpt.<random>.tmp``
can be as large as a checkpoint) and says where training resumes, if anywhere.
``resumable_csv_logger`` then continues the CSV log in the run's one version folder: rows
up to the epoch the checkpoint holds are kept, later ones (which the resumed run logs
again) are dropped, so an interrupted and resumed run leaves one ``metrics.csv`` with each
epoch once. Rows are written as they are logged, so a kill loses at most the row being
written.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from pedpain.core.files import ATOMIC_TEMPORARY, atomic_write_text, sweep_temporaries

#: Checkpoint name a run resumes from, under ``<folder>/checkpoints``.
LAST = "last.ckpt"


@dataclass(frozen=True)
class ResumePoint:
    checkpoint: Path
    epoch: int  # the last epoch the checkpoint completed
    global_step: int


def prepare_resume(folder: Path) -> ResumePoint | None:
    """Sweep stale temporaries of ``folder``; return the checkpoint to resume from."""
    sweep_temporaries(folder, (ATOMIC_TEMPORARY,))
    sweep_temporaries(folder / "checkpoints", (ATOMIC_TEMPORARY,))
    last = folder / "checkpoints" / LAST
    if not last.is_file():
        return None
    import torch

    # mmap: only the two counters are read, not the (possibly gigabytes of) weights.
    state = torch.load(last, map_location="cpu", mmap=True, weights_only=False)
    return ResumePoint(last, int(state.get("epoch", -1)), int(state.get("global_step", 0)))


def latest_version(root: Path) -> int | None:
    """The highest ``version_N`` under ``root`` (a logger's ``save_dir/name``)."""
    numbers = [
        int(m.group(1))
        for p in (root.iterdir() if root.is_dir() else [])
        if p.is_dir() and (m := re.fullmatch(r"version_(\d+)", p.name))
    ]
    return max(numbers) if numbers else None


class _ContinuedWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued (up to
    ``keep_through_epoch``) instead of deleted."""

    def __init__(self, log_dir: str, keep_through_epoch: int) -> None:
        self.keep_through_epoch = keep_through_epoch  # read by the base __init__ below
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = [r for r in reader if _epoch(r) <= self.keep_through_epoch]
        if not rows:
            path.unlink()
            return
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, out.getvalue())
        self.metrics_keys = sorted(fields)


def _epoch(row: dict[str, Any]) -> float:
    try:
        return float(row.get("epoch") or "inf")
    except ValueError:
        return float("inf")


class ResumableCSVLogger(CSVLogger):
    """A CSV logger that writes every row at once and continues an earlier run's file."""

    def __init__(self, save_dir: Path, name: str, resume: ResumePoint | None) -> None:
        super().__init__(
            save_dir,
            name=name,
            version=latest_version(Path(save_dir) / name),
            flush_logs_every_n_steps=1,
        )
        self._keep_through_epoch = resume.epoch if resume is not None else -1

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            Path(self.root_dir).mkdir(parents=True, exist_ok=True)
            self._experiment = _ContinuedWriter(self.log_dir, self._keep_through_epoch)
        return self._experiment  # type: ignore[return-value]


def resumable_loggers(folder: Path, resume: ResumePoint | None) -> list[Any]:
    """The run's CSV and TensorBoard loggers, both in the version folder of an earlier
    attempt when there is one (a fresh run starts ``version_0``)."""
    logs = folder / "logs"
    return [
        ResumableCSVLogger(logs, "csv", resume),
        TensorBoardLogger(logs, name="tb", version=latest_version(logs / "tb")),
    ]

"""A tiny resumable stage runner: each stage writes into its own folder of the workdir and
is marked finished by a ``.done`` file, so rerunning reuses what is complete and redoes
what a killed run left half done."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedpain.core.files import atomic_write_text, sweep_temporaries

StageFn = Callable[[Path, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    run: StageFn  # (stage folder, results so far) -> summary of this stage


@dataclass
class StageResult:
    name: str
    title: str
    seconds: float
    reused: bool
    summary: dict[str, Any]


def run_stages(
    stages: list[Stage],
    workdir: Path,
    on_done: Callable[[StageResult], None] | None = None,
) -> list[StageResult]:
    workdir.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(workdir)  # files a killed run was writing beside the stage folders
    results: dict[str, Any] = {}
    out: list[StageResult] = []
    for stage in stages:
        folder = workdir / stage.name
        marker = folder / ".done"
        if marker.is_file():
            summary = json.loads(marker.read_text(encoding="utf-8"))
            result = StageResult(stage.name, stage.title, 0.0, True, summary)
        else:
            if folder.exists():  # a killed run left it half done: start it again
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            start = time.perf_counter()
            summary = stage.run(folder, results)
            seconds = time.perf_counter() - start
            atomic_write_text(marker, json.dumps(summary, indent=2, default=str))
            result = StageResult(stage.name, stage.title, seconds, False, summary)
        results[stage.name] = result.summary
        out.append(result)
        if on_done is not None:
            on_done(result)
    return out

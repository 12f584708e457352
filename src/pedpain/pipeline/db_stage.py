"""The demo's database stage: the phantom cohort into a fresh OAPC-FEI database.

It imports the cohort folder that the phantom stage wrote, then writes what a researcher
would look at next: ``stats.json`` (counts, screening log, rater ICC) and a training
manifest. The demo keeps its own SQLite database and a throwaway media key inside the
stage folder (fine for synthetic data; real keys live outside the data folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pedpain import DISCLAIMER
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_text
from pedpain.core.settings import load_settings
from pedpain.pipeline.stages import Stage
from pedpain.store import (
    collect_stats,
    export_manifest,
    import_cohort,
    open_store,
    write_new_key,
)

STAGE_TITLE = "OAPC-FEI research database (import, screening, ICC, manifest)"


def find_cohort(workdir: Path) -> Path:
    """The import folder an earlier stage wrote under ``workdir`` (has cohort.json)."""
    patterns = ("*/cohort.json", "*/*/cohort.json", "*/*/*/cohort.json")
    found = sorted(
        p.parent for pattern in patterns for p in workdir.glob(pattern) if ".partial" not in str(p)
    )
    if not found:
        raise UsageError(f"no phantom cohort (cohort.json) under {workdir}")
    return found[0]


def import_into_demo_db(folder: Path, cohort: Path) -> dict[str, Any]:
    """Import ``cohort`` into a database under ``folder``; write stats.json + manifest/."""
    key = folder / "demo-media.key"
    if not key.exists():
        write_new_key(key)
    settings = load_settings(
        home=folder / "home",
        database_url=f"sqlite:///{(folder / 'home' / 'pedpain.db').resolve()}",
        key_file=key,
    )
    with open_store(settings, actor="pedpain-demo", init=True) as store:
        report = import_cohort(store, cohort, reason="pedpain demo")
        stats = collect_stats(store, reason="pedpain demo")
        manifest = export_manifest(store, folder / "manifest", reason="pedpain demo")
    stats_path = folder / "stats.json"
    # allow_nan=False: reliability reports null, never NaN, for what it cannot compute.
    atomic_write_text(stats_path, json.dumps(stats, indent=2, default=str, allow_nan=False) + "\n")
    return {
        "cohort": str(cohort),
        "database": str(folder / "home" / "pedpain.db"),
        "stats": str(stats_path),
        "manifest": str(folder / "manifest" / "manifest.csv"),
        "subjects_enrolled": stats["subjects"]["enrolled"],
        "screening_rejections": stats["screening"]["rejected"],
        "withdrawn": stats["withdrawn"],
        "sessions": stats["sessions"]["total"],
        "media": stats["media"]["photos"] + stats["media"]["videos"],
        "icc_2_k": stats["reliability"]["icc_2_k"],
        "icc": stats["reliability"]["icc"],
        "icc_k": stats["reliability"]["icc_k"],
        "icc_model": stats["reliability"]["model"],
        "rejected_rows": len(report.errors),
        "manifest_items": manifest["items"],
        "disclaimer": DISCLAIMER,
    }


def _stage(folder: Path, _: dict[str, Any]) -> dict[str, Any]:
    return import_into_demo_db(folder, find_cohort(folder.parent))


def database_stages(before: list[Stage], name: str = "03-database") -> list[Stage]:
    """The database stage, once a phantom stage precedes it (none otherwise)."""
    if not any("phantom" in s.name for s in before):
        return []
    return [Stage(name, STAGE_TITLE, _stage)]

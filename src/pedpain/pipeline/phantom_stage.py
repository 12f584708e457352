"""The demo's phantom stage: a small synthetic OAPC-FEI cohort in the import layout.

Quick: 6 children, small photos, 2 s clips (seconds). Full: 12 children with the protocol's
20-megapixel photos and 10 s clips (a minute or two on two cores). The cohort lands in ``<stage>/cohort``,
where the database stage finds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pedpain import DISCLAIMER
from pedpain.pipeline.stages import Stage

STAGE_NAME = "02-phantom"


def _run(quick: bool) -> Any:
    def run(folder: Path, _: dict[str, Any]) -> dict[str, Any]:
        from pedpain.data.phantom.oapc import CohortParams, generate_cohort

        if quick:
            params = CohortParams(subjects=6, seed=7, photo_size="small", video_seconds=2.0)
        else:
            params = CohortParams(subjects=12, seed=7, photo_size="large", video_seconds=10.0)
        summary = generate_cohort(folder / "cohort", params, workers=1 if quick else 2)
        return {
            **summary,
            "cohort": str(folder / "cohort"),
            "truth": str(folder / "cohort" / "truth"),
            "photo_size": params.photo_size,
            "video_seconds": params.video_seconds,
            "disclaimer": DISCLAIMER,
        }

    return run


def phantom_stage(quick: bool) -> Stage:
    return Stage(STAGE_NAME, "phantom OAPC-FEI cohort (synthetic faces)", _run(quick))

"""The demo's phantom stage: a small synthetic OAPC-FEI cohort in the import layout.

Quick: 20 children, small photos, 2 s clips (under a minute). Full: 24 children with the
protocol's 20-megapixel photos and 10 s clips (several minutes on two cores). Enough
children that the 80/20 split by child leaves a test set the evaluation can summarise.
The cohort lands in ``<stage>/cohort``, where the database stage finds it.
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
            params = CohortParams(subjects=20, seed=7, photo_size="small", video_seconds=2.0)
        else:
            params = CohortParams(subjects=24, seed=7, photo_size="large", video_seconds=10.0)
        summary = generate_cohort(folder / "cohort", params, workers=2)
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

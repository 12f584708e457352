"""The demo: the study pipeline on data pedpain makes itself.

Stages are added here as the product grows; each must be real work whose output a user
can open. Today: the age-appropriate scale for a set of example children.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pedpain import DISCLAIMER
from pedpain.clinical.age import format_age, parse_age
from pedpain.clinical.scales import recommended_scale, scales_for_age
from pedpain.core.files import atomic_write_text
from pedpain.pipeline.db_stage import database_stages
from pedpain.pipeline.phantom_stage import phantom_stage
from pedpain.pipeline.stages import Stage
from pedpain.pipeline.study_stages import study_stages

#: Example ages spanning Table 1: newborn, infant, toddler, preschool, school age, teen.
EXAMPLE_AGES = ("3w", "8m", "2y6m", "4y", "7y", "10y", "13y6m")


def _scales_stage(folder: Path, _: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for text in EXAMPLE_AGES:
        months = parse_age(text)
        best = recommended_scale(months)
        rows.append(
            {
                "age": text,
                "age_months": months,
                "age_text": format_age(months),
                "recommended": best.to_dict() if best else None,
                "fitting": [s.code for s in scales_for_age(months)],
            }
        )
    path = folder / "scales_by_age.json"
    atomic_write_text(path, json.dumps({"examples": rows, "disclaimer": DISCLAIMER}, indent=2))
    return {"file": str(path), "examples": len(rows)}


def demo_stages(quick: bool) -> list[Stage]:
    stages = [
        Stage("01-scales", "age-appropriate pain scales (Table 1)", _scales_stage),
        phantom_stage(quick),
    ]
    # The research database stage joins right after a phantom stage (pipeline/db_stage.py).
    return stages + database_stages(stages) + study_stages(quick)

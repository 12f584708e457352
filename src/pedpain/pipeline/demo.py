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
from pedpain.pipeline.cohort_stage import cohort_stages
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
    # The simulated prospective cohort needs the bedside model the study stages make.
    return stages + database_stages(stages) + study_stages(quick) + cohort_stages(quick)


def epilogue(done: dict[str, dict[str, Any]]) -> list[str]:
    """What a newcomer should look at after the demo: results, the report, the next step."""
    lines: list[str] = []
    scales = done.get("01-scales")
    if scales:
        examples = json.loads(Path(scales["file"]).read_text(encoding="utf-8"))["examples"]
        picks = ", ".join(
            f"{e['age']} {e['recommended']['code']}" for e in examples if e["recommended"]
        )
        lines.append(f"Scales by age: {picks}")
    db = done.get("03-database")
    if db:
        lines.append(
            f"Database: {db['subjects_enrolled']} children enrolled, "
            f"{db['screening_rejections']} screened out, rater {db.get('icc') or 'ICC(2,k)'} "
            f"{_fmt(db.get('icc_k', db['icc_2_k']))}"
        )
    for key, label in (
        ("05-source", "Source model"),
        ("06-transfer", "Transfer model"),
        ("08-distill", "Bedside model"),
    ):
        if key in done:
            m = done[key]
            lines.append(
                f"{label}: MAE {_fmt(m.get('mae'))}, r {_fmt(m.get('pcc'))}, "
                f"AUC {_fmt(m.get('auc'))} on held-out children -> {m['model']}"
            )
    ev = done.get("09-evaluate")
    if ev:
        lines.append(
            f"Evaluation on {ev['n_subjects']} held-out children ({ev['n']} faces): AUC "
            f"{_fmt(ev['auc'])} (nurses' BPS {_fmt(ev['comparator_auc'])}), MAE {_fmt(ev['mae'])}"
        )
        if ev.get("confounder_auc"):
            failed = ev.get("confounders_failed") or []
            lines.append(
                "Confounder check (pain vs none within each expression, AUC): "
                + ", ".join(f"{k} {_fmt(v)}" for k, v in ev["confounder_auc"].items())
                + (f"; failed: {', '.join(failed)}" if failed else "; all passed")
            )
    examples_stage = done.get("10-assess")
    if examples_stage:
        for r in json.loads(Path(examples_stage["file"]).read_text(encoding="utf-8")):
            child = r["child"]
            if r["status"] == "ok" and r["scale"]:
                sc = r["scale"]
                verdict = "treat" if r["needs_treatment"] else "below threshold"
                what = (
                    f"{r['score']:.1f}/10 = {sc['name']} {sc['score']:.1f}/{sc['max']:g} "
                    f"({verdict}; nurse {child['bps_scale']} {child['nurse_bps']})"
                )
            else:
                what = f"{r['status']}: {r['reason']}"
            lines.append(f"  {child['subject']} age {child['age']} {r['kind']}: {what}")
    gan = done.get("07-gan")
    if gan:
        lines.append(f"GAN samples per pain level ({gan['iterations']} updates): {gan['samples']}")
        if gan.get("diversity_ratio") is not None:
            lines.append(
                f"  within-level diversity {gan['diversity_ratio']:.0%} of the real faces' "
                "(target 85%)"
            )
    if ev:
        lines.append(f"Report: {ev['report']}  (open it in a browser)")
    web = done.get("11-webapp")
    if web:
        lines.append(f"Web app on the demo data: {web['command']}")
        lines.append(f"  then open http://127.0.0.1:8000/ with a login from {web['logins']}")
    lines.append(
        "All data above is synthetic: it shows the software works, not that it is clinically valid."
    )
    return lines


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"

"""``pedpain scales``: Table 1 of the protocol, for an age if given."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from pedpain import DISCLAIMER
from pedpain.cli.common import print_json
from pedpain.clinical.age import format_age, parse_age
from pedpain.clinical.scales import (
    PainScale,
    denormalise,
    load_scales,
    normalise,
    recommended_scale,
    scale_by_name,
    scales_for_age,
)
from pedpain.core.errors import UsageError


def scales(
    age: str | None = typer.Option(
        None, "--age", help="Child's age, e.g. 30m, 4y, 4y6m, 3w: list only the scales that fit it."
    ),
    scale: str | None = typer.Option(
        None, "--scale", help="One scale by code (e.g. FLACC) to convert a score with."
    ),
    score: float | None = typer.Option(
        None, "--score", help="With --scale: a score on that scale, shown normalised to 0-10."
    ),
    normalised: float | None = typer.Option(
        None, "--normalised", help="With --scale: a 0-10 score, shown on that scale."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """The age-appropriate postoperative pain scales and their therapeutic thresholds.

    Exit codes: 0 shown; 1 bug; 2 bad usage (age, scale or score out of range).

    \b
    Examples:
      pedpain scales --age 4y6m --json
      pedpain scales --scale FLACC --score 5
    """
    if (score is not None or normalised is not None) and scale is None:
        raise UsageError("--score and --normalised need --scale")
    if score is not None and normalised is not None:
        raise UsageError("give --score or --normalised, not both")

    months = parse_age(age) if age is not None else None
    chosen = scale_by_name(scale) if scale is not None else None
    if months is not None:
        listed = scales_for_age(months)
        best = recommended_scale(months)
        if chosen is not None and not chosen.fits_age(months):
            raise UsageError(
                f"{chosen.code} does not fit a child of {format_age(months)} "
                f"(it covers {chosen.age_range_text()})"
            )
    else:
        listed, best = load_scales(), None
    if chosen is not None:
        listed = (chosen,)

    conversion = _convert(chosen, score, normalised) if chosen is not None else None
    doc = {
        "age": age,
        "age_months": months,
        "recommended": best.code if best else None,
        "scales": [
            dict(s.to_dict(), recommended=bool(best and s.code == best.code)) for s in listed
        ],
        "conversion": conversion,
        "disclaimer": DISCLAIMER,
    }
    if as_json:
        print_json(doc)
        return
    _print_table(listed, months, best, conversion)


def _convert(chosen: PainScale, score: float | None, normalised: float | None) -> dict | None:
    if score is not None:
        value = normalise(score, chosen)
        return {
            "scale": chosen.code,
            "score": score,
            "normalised": value,
            "needs_treatment": chosen.needs_treatment(score),
        }
    if normalised is not None:
        on_scale = denormalise(normalised, chosen)
        return {
            "scale": chosen.code,
            "score": on_scale,
            "normalised": normalised,
            "needs_treatment": chosen.needs_treatment(on_scale),
        }
    return None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{round(value, 2):g}"


def _print_table(
    listed: tuple[PainScale, ...],
    months: int | None,
    best: PainScale | None,
    conversion: dict | None,
) -> None:
    import sys

    console = Console() if sys.stdout.isatty() else Console(width=160)
    title = "Postoperative pain scales (protocol Table 1)"
    if months is not None:
        title += f" for a child of {format_age(months)}"
    table = Table(title=title)
    for col in ("code", "scale", "reported by", "ages", "max", "threshold", "0-10 threshold"):
        table.add_column(col)
    for s in listed:
        mark = " *" if best and s.code == best.code else ""
        threshold = _fmt(s.threshold) if s.threshold is not None else (s.threshold_note or "-")
        table.add_row(
            s.code + mark,
            s.name,
            s.reporter,
            s.age_range_text(),
            _fmt(s.score_max),
            threshold,
            _fmt(s.threshold_normalised),
        )
    console.print(table)
    if best is not None:
        console.print(
            f"* pedpain reports its score on {best.code} for this age "
            f"(treatment indicated from {_fmt(best.threshold)}/{_fmt(best.score_max)})."
        )
    elif months is not None:
        console.print("No numeric observer scale with a threshold fits this age.")
    if conversion is not None:
        need = conversion["needs_treatment"]
        console.print(
            f"{conversion['scale']} {conversion['score']:g} = {conversion['normalised']:.2f}/10; "
            f"threshold {'reached' if need else 'not reached' if need is False else 'unknown'}."
        )
    console.print(DISCLAIMER)

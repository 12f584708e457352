"""Charts drawn on the server as SVG (no JavaScript library): the child's timeline and
simple bar charts. Colours only use presentation attributes (the app's Content Security
Policy forbids inline styles) and every chart has a title and a text description."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

AI_COLOUR = "#1f5fbf"  # blue
BPS_COLOUR = "#b34700"  # dark orange: both pass 4.5:1 on white
GRID = "#c8c8c8"


def _f(x: float) -> str:
    return f"{x:.1f}"


def timeline_svg(points: Sequence[dict[str, Any]], threshold: float | None) -> Markup:
    """AI (circles, solid line) and the nurse's BPS (squares, dashed), 0-10, against hours
    since surgery (or the order of the sessions when hours are unknown)."""
    w, h, left, right, top, bottom = 640, 320, 48, 16, 20, 76
    pw, ph = w - left - right, h - top - bottom
    hours = [p.get("hours") for p in points]
    # Hours on the axis when known and distinct; else the order of the sessions.
    known = [round(float(x), 1) for x in hours if x is not None]
    use_hours = bool(points) and len(known) == len(points) and len(set(known)) == len(known)
    xs = [float(p["hours"]) if use_hours else float(i) for i, p in enumerate(points)]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1

    def x_of(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    def y_of(v: float) -> float:
        return top + (1 - v / 10.0) * ph

    desc = "; ".join(_describe(p) for p in points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
        f'aria-labelledby="tl-title tl-desc" class="chart">',
        '<title id="tl-title">Pain scores over time (0-10)</title>',
        f'<desc id="tl-desc">{escape(desc or "no assessments yet")}</desc>',
    ]
    for v in range(0, 11, 2):
        y = y_of(v)
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{_f(y)}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 8}" y="{_f(y + 4)}" text-anchor="end" font-size="12">{v}</text>'
        )
    if threshold is not None:
        y = y_of(threshold)
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{_f(y)}" y2="{_f(y)}" stroke="#a00000" '
            f'stroke-dasharray="2 4" stroke-width="2"/>'
            f'<text x="{w - right}" y="{_f(y - 4)}" text-anchor="end" font-size="12" '
            f'fill="#a00000">treatment threshold</text>'
        )
    for key, colour, dash in (
        ("ai", AI_COLOUR, ""),
        ("bps", BPS_COLOUR, ' stroke-dasharray="6 4"'),
    ):
        pts = [
            (x_of(x), y_of(float(p[key])))
            for x, p in zip(xs, points, strict=True)
            if p.get(key) is not None
        ]
        if len(pts) > 1:
            path = " ".join(f"{_f(a)},{_f(b)}" for a, b in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
            )
        for a, b in pts:
            if key == "ai":
                parts.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="5" fill="{colour}"/>')
            else:
                parts.append(
                    f'<rect x="{_f(a - 5)}" y="{_f(b - 5)}" width="10" height="10" '
                    f'fill="{colour}"/>'
                )
    for x, p in zip(xs, points, strict=True):
        label = f"{p['hours']:.0f} h" if use_hours else str(p["time_point"])
        parts.append(
            f'<text x="{_f(x_of(x))}" y="{h - bottom + 18}" text-anchor="middle" '
            f'font-size="12">{escape(label)}</text>'
        )
    axis = "hours since the end of surgery" if use_hours else "assessments in order"
    parts.append(
        f'<text x="{left + pw / 2}" y="{h - 30}" text-anchor="middle" font-size="13">{axis}</text>'
    )
    parts.append(
        f'<circle cx="{left + 10}" cy="{h - 10}" r="5" fill="{AI_COLOUR}"/>'
        f'<text x="{left + 20}" y="{h - 6}" font-size="12">AI score</text>'
        f'<rect x="{left + 105}" y="{h - 15}" width="10" height="10" fill="{BPS_COLOUR}"/>'
        f'<text x="{left + 120}" y="{h - 6}" font-size="12">nurse BPS</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _describe(p: dict[str, Any]) -> str:
    text = str(p["time_point"])
    if p.get("hours") is not None:
        text += f" at {p['hours']:.1f} h"
    if p.get("ai") is not None:
        text += f": AI {p['ai']:.1f}"
    if p.get("bps") is not None:
        text += f", BPS {p['bps']:.1f}"
    return text


def bars_svg(title: str, items: Sequence[tuple[str, float]], unit: str = "") -> Markup:
    """Horizontal bars with their values written out."""
    row, left, w = 26, 120, 340
    h = row * max(len(items), 1) + 30
    top = max((v for _, v in items), default=0) or 1
    tid = "b" + str(abs(hash(title)) % 10**8)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
        f'aria-labelledby="{tid}" class="chart">',
        f'<title id="{tid}">{escape(title)}: '
        + escape(", ".join(f"{k} {v:g}{unit}" for k, v in items) or "none")
        + "</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = 10 + i * row
        bw = (w - left - 60) * (value / top)
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="13">'
            f"{escape(label)}</text>"
            f'<rect x="{left}" y="{y + 2}" width="{_f(bw)}" height="{row - 8}" fill="{AI_COLOUR}"/>'
            f'<text x="{_f(left + bw + 6)}" y="{y + 15}" font-size="13">{value:g}{unit}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bland_altman_svg(
    title: str, points: Sequence[tuple[float, float]], agreement: dict[str, Any], ident: str
) -> Markup:
    """Bland-Altman: difference (AI - other) against the mean of the two, 0-10 scale, with
    the bias and the 95% limits of agreement."""
    w, h, left, right, top, bottom = 420, 260, 44, 12, 24, 40
    pw, ph = w - left - right, h - top - bottom
    lines = [agreement.get(k) for k in ("bias", "loa_low", "loa_high")]
    spread = max([abs(d) for _, d in points] + [abs(v) for v in lines if v is not None] + [1.0])
    span = min(10.0, float(int(spread) + 1))

    def x_of(v: float) -> float:
        return left + v / 10.0 * pw

    def y_of(v: float) -> float:
        return top + (1 - (v + span) / (2 * span)) * ph

    bias = agreement.get("bias")
    desc = (
        f"{agreement.get('n', 0)} sessions; bias {bias:.2f}, limits of agreement "
        f"{agreement['loa_low']:.2f} to {agreement['loa_high']:.2f}"
        if bias is not None and agreement.get("loa_low") is not None
        else "not enough sessions"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" class="chart">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
        f'<text x="{left}" y="14" font-size="12">{escape(title)}</text>',
    ]
    for v in (-span, 0.0, span):
        y = y_of(v)
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{_f(y)}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" font-size="11">{v:g}</text>'
        )
    for v in range(0, 11, 5):
        parts.append(
            f'<text x="{_f(x_of(v))}" y="{h - 22}" text-anchor="middle" font-size="11">{v}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{h - 6}" text-anchor="middle" font-size="11">'
        "mean of the two (0-10); vertical: AI minus other</text>"
    )
    for m, d in points:
        parts.append(
            f'<circle cx="{_f(x_of(m))}" cy="{_f(y_of(max(-span, min(span, d))))}" r="2" '
            f'fill="{AI_COLOUR}" fill-opacity="0.35"/>'
        )
    for value, dash in zip(lines, ("", "4 3", "4 3"), strict=True):
        if value is not None:
            y = y_of(max(-span, min(span, value)))
            parts.append(
                f'<line x1="{left}" x2="{w - right}" y1="{_f(y)}" y2="{_f(y)}" '
                f'stroke="{BPS_COLOUR}" stroke-width="2"'
                + (f' stroke-dasharray="{dash}"' if dash else "")
                + "/>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))

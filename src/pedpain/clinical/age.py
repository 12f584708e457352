"""Ages as the clinic writes them: ``30m``, ``4y``, ``4y6m``, ``6y``, ``2w`` (weeks), ``10d``.

pedpain counts ages in whole completed months. A bare number is refused because ``4``
could mean months or years.
"""

from __future__ import annotations

import re

from pedpain.core.errors import UsageError

#: The oldest age pedpain accepts: its scales and models are for children and adolescents.
MAX_AGE_MONTHS = 18 * 12

_AGE = re.compile(
    r"^(?:(?P<y>\d{1,3})\s*y)?\s*(?:(?P<m>\d{1,4})\s*m)?\s*(?:(?P<w>\d{1,4})\s*w)?\s*(?:(?P<d>\d{1,5})\s*d)?$"
)


def parse_age(text: str) -> int:
    """Return the age in completed months; raise UsageError for anything that is not an age.

    >>> parse_age("4y6m")
    54
    """
    raw = text
    cleaned = text.strip().lower().replace("yrs", "y").replace("yr", "y").replace("mo", "m")
    match = _AGE.match(cleaned) if cleaned else None
    if not match or not any(match.group(g) for g in "ymwd"):
        raise UsageError(f"not an age: {raw!r} (write it like 30m, 4y, 4y6m, 3w or 10d)")
    years = int(match.group("y") or 0)
    months = int(match.group("m") or 0)
    weeks = int(match.group("w") or 0)
    days = int(match.group("d") or 0)
    if match.group("y") and months >= 12:
        raise UsageError(f"not an age: {raw!r} (months after years must be 0-11)")
    # Average month of 30.4375 days; weeks and days only matter for newborns.
    total_days = years * 365.25 + months * 30.4375 + weeks * 7 + days
    total = int((total_days + 1e-9) // 30.4375)
    if total > MAX_AGE_MONTHS:
        raise UsageError(f"age {raw!r} is over 18 years: pedpain is for children and adolescents")
    return total


def format_age(months: int) -> str:
    """The inverse of parse_age for whole months: 54 -> '4y6m', 30 -> '2y6m', 5 -> '5m'."""
    if months < 0:
        raise ValueError("age in months cannot be negative")
    years, rest = divmod(months, 12)
    if years == 0:
        return f"{rest}m"
    return f"{years}y" if rest == 0 else f"{years}y{rest}m"

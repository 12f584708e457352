"""Subgroups: the age bands of the protocol's Table 1, sex, time point and study group.

Each subgroup gets the model's metrics with its n. A subgroup with fewer than
``min_subjects`` children gets null metrics and a warning instead of numbers that would be
read as findings; a subgroup with one class only gets null AUC/sensitivity/specificity
(as everywhere else).
"""

from __future__ import annotations

import math

import pandas as pd

#: Table 1's age groups, in completed months (upper bound exclusive).
AGE_BANDS = (
    ("under 1 y", 0, 12),
    ("1-5 y", 12, 72),
    ("6-13 y", 72, 168),
    ("14 y and over", 168, 10_000),
)
UNKNOWN = "unknown"
#: The columns subgroups are formed from, in report order ("age_band" from age_months).
SUBGROUP_COLUMNS = ("age_band", "sex", "time_point", "group")
#: Default minimum number of subjects for a subgroup's metrics to be reported.
MIN_SUBJECTS = 10


def age_band(months: float | None) -> str:
    if months is None or (isinstance(months, float) and math.isnan(months)):
        return UNKNOWN
    for label, low, high in AGE_BANDS:
        if low <= months < high:
            return label
    return UNKNOWN


def subgroup_columns(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Subgroup label per row for every subgroup variable the table has."""
    found: dict[str, pd.Series] = {}
    if "age_months" in rows.columns:
        found["age_band"] = rows["age_months"].map(age_band)
    for column in SUBGROUP_COLUMNS[1:]:
        if column in rows.columns:
            found[column] = rows[column].fillna(UNKNOWN).astype(str)
    return found


def ordered_values(variable: str, labels: pd.Series) -> list[str]:
    present = set(labels.unique())
    if variable == "age_band":
        order = [label for label, _, _ in AGE_BANDS] + [UNKNOWN]
        return [v for v in order if v in present]
    return sorted(present, key=lambda v: (v == UNKNOWN, v))

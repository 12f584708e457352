"""The predictions table: reading a CSV, checking it, and cleaning it for the metrics.

One row is one scored observation (a frame, a clip or a photo). Required columns:
``subject_id, reference, prediction``. Optional: ``comparator`` (e.g. the nurse's BPS),
``threshold`` (per row), ``probability`` (0-1 pain probability), ``session_id``,
``clip_id``, ``fold``, ``age_months``, ``sex``, ``time_point``, ``group``. Scores are on
``0..scale_max`` (10 by default, 16 for PSPI); everything is normalised to 0-10 here so
that every later step works on one scale.

Policy for bad values (documented in ``pedpain evaluate predictions --help``):
- a missing file, a file that is not a CSV, no rows, a missing required column, text that
  is not a number, an infinite value, or a reference/comparator/threshold outside the
  scale: the whole table is refused (``UsageError``, exit 2), naming column and row;
- an empty cell in ``reference``, ``prediction`` or ``subject_id``: the row is dropped and
  counted (the CLI then exits 3 after writing everything, as the contract says for
  rejected inputs); an empty ``comparator`` only removes the row from the paired
  comparison.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pedpain.core.errors import UsageError

REQUIRED = ("subject_id", "reference", "prediction")
NUMERIC_ON_SCALE = ("reference", "prediction", "comparator", "threshold")
ID_COLUMNS = ("subject_id", "session_id", "clip_id", "fold", "sex", "time_point", "group")
#: Rows whose prediction lies this far outside the scale are refused: a regression head
#: may overshoot a little, but 2x the scale means the column is on another scale.
_PREDICTION_SLACK = 1.0


@dataclass
class CleanTable:
    """The table after checking: scores normalised to 0-10, bad rows removed."""

    rows: pd.DataFrame
    n_input_rows: int
    n_dropped: int
    scale_max: float
    warnings: list[str] = field(default_factory=list)

    def has(self, column: str) -> bool:
        return column in self.rows.columns


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a predictions CSV as text columns (checked and converted by :func:`clean`)."""
    source = Path(path)
    if not source.exists():
        raise UsageError(f"predictions file not found: {source}")
    if source.is_dir():
        raise UsageError(f"{source} is a folder; give the predictions CSV file")
    try:
        with source.open("r", encoding="utf-8-sig", newline="") as handle:
            head = handle.read(4096)
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not a CSV text file (it is not UTF-8 text)") from None
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    if "\x00" in head:
        raise UsageError(f"{source} is not a CSV text file (it holds binary data)")
    if not head.strip():
        raise UsageError(f"{source} is empty: expected a header with {', '.join(REQUIRED)}")
    try:
        frame = pd.read_csv(
            source,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{source} is not a readable CSV: {first}") from None
    except pd.errors.EmptyDataError:
        raise UsageError(
            f"{source} is empty: expected a header with {', '.join(REQUIRED)}"
        ) from None
    return frame


def clean(frame: pd.DataFrame, scale_max: float = 10.0, source: str = "predictions") -> CleanTable:
    """Check the table against the column contract and return it normalised to 0-10."""
    if not (math.isfinite(scale_max) and scale_max > 0):
        raise UsageError(f"scale maximum must be a positive number, not {scale_max!r}")
    table = frame.copy()
    table.columns = [str(c).strip().lower() for c in table.columns]
    duplicated = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if duplicated:
        raise UsageError(f"{source}: column(s) {', '.join(duplicated)} appear more than once")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        found = ", ".join(table.columns) if len(table.columns) else "none"
        raise UsageError(
            f"{source}: missing column(s) {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED)}; found {found})"
        )
    if len(table) == 0:
        raise UsageError(f"{source} has a header but no rows")
    n_input = len(table)
    # Row numbers as the user sees them in a spreadsheet: header is line 1.
    table.index = pd.RangeIndex(2, n_input + 2)
    warnings: list[str] = []

    for column in ID_COLUMNS:
        if column in table.columns:
            table[column] = _text(table[column])
    factor = 10.0 / scale_max
    for column in (*NUMERIC_ON_SCALE, "probability", "age_months"):
        if column not in table.columns:
            continue
        values = _numbers(table[column], column, source)
        if column in NUMERIC_ON_SCALE:
            _check_range(values, column, scale_max, source, warnings)
            values = values * factor
        elif column == "probability":
            _check_bounds(values, column, 0.0, 1.0, source)
        else:
            _check_bounds(values, column, 0.0, 18 * 12 + 11, source)
        table[column] = values

    needed = table[list(REQUIRED)]
    unusable = (
        needed["reference"].isna() | needed["prediction"].isna() | needed["subject_id"].isna()
    )
    if "threshold" in table.columns:
        unusable |= table["threshold"].isna()
    n_dropped = int(unusable.sum())
    if n_dropped:
        rows = ", ".join(str(i) for i in table.index[unusable][:5])
        more = " ..." if n_dropped > 5 else ""
        warnings.append(
            f"{n_dropped} of {n_input} rows dropped: empty subject_id, reference, prediction"
            f"{' or threshold' if 'threshold' in table.columns else ''} (rows {rows}{more})"
        )
    table = table.loc[~unusable]
    if len(table) == 0:
        raise UsageError(f"{source}: no usable rows (all {n_input} have an empty required value)")
    return CleanTable(
        rows=table,
        n_input_rows=n_input,
        n_dropped=n_dropped,
        scale_max=scale_max,
        warnings=warnings,
    )


def _text(column: pd.Series) -> pd.Series:
    values = column.astype("string").str.strip()
    return values.mask(values.isin(["", "nan", "NaN", "NA", "N/A", "null", "None"]))


_EMPTY = {"", "nan", "na", "n/a", "null", "none"}


def _numbers(column: pd.Series, name: str, source: str) -> pd.Series:
    if column.dtype.kind in "fiu":
        values = column.astype(float)
    else:
        text = column.astype("string").str.strip()
        empty = text.isna() | text.str.lower().isin(_EMPTY)
        values = pd.to_numeric(text.mask(empty), errors="coerce").astype(float)
        bad = values.isna() & ~empty
        if bad.any():
            row = bad.idxmax()
            raise UsageError(f"{source}: column {name!r} row {row}: {text[row]!r} is not a number")
    infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        row = values.index[int(np.argmax(infinite))]
        raise UsageError(f"{source}: column {name!r} row {row}: infinite value")
    return values


def _check_range(
    values: pd.Series, name: str, scale_max: float, source: str, warnings: list[str]
) -> None:
    if name == "prediction":
        low, high = -_PREDICTION_SLACK * scale_max, (1 + _PREDICTION_SLACK) * scale_max
        _check_bounds(values, name, low, high, source, f"0-{scale_max:g} (check --scale-max)")
        outside = ((values < 0) | (values > scale_max)).sum()
        if outside:
            warnings.append(
                f"{int(outside)} prediction(s) lie outside 0-{scale_max:g}; kept as given"
            )
        return
    _check_bounds(values, name, 0.0, scale_max, source, f"0-{scale_max:g} (check --scale-max)")


def _check_bounds(
    values: pd.Series,
    name: str,
    low: float,
    high: float,
    source: str,
    range_text: str | None = None,
) -> None:
    outside = (values < low) | (values > high)
    if outside.any():
        row = outside.idxmax()
        allowed = range_text or f"{low:g}-{high:g}"
        raise UsageError(
            f"{source}: column {name!r} row {row}: {values[row]:g} is outside {allowed}"
        )

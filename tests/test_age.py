from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pedpain.clinical.age import MAX_AGE_MONTHS, format_age, parse_age
from pedpain.core.errors import UsageError


@pytest.mark.parametrize(
    "text, months",
    [
        ("30m", 30),
        ("4y", 48),
        ("4y6m", 54),
        ("6y", 72),
        ("0m", 0),
        ("18y", 216),
        ("4Y6M", 54),
        (" 4y 6m ", 54),
        ("2w", 0),
        ("10d", 0),
        ("9w", 2),
        ("1y11m", 23),
        ("13y11m", 167),
        ("4yr", 48),
        ("6mo", 6),
    ],
)
def test_known_ages(text, months):
    assert parse_age(text) == months


@pytest.mark.parametrize(
    "text",
    [
        "-1y",
        "200y",
        "4x",
        "",
        "  ",
        "4",
        "y",
        "m",
        "4y12m",
        "4.5y",
        "four",
        "4y-1m",
        "19y",
        "4m4y",
    ],
)
def test_nonsense_is_rejected(text):
    with pytest.raises(UsageError):
        parse_age(text)


@given(st.integers(min_value=0, max_value=MAX_AGE_MONTHS))
def test_format_parse_round_trip(months):
    assert parse_age(format_age(months)) == months


@given(st.integers(min_value=0, max_value=18), st.integers(min_value=0, max_value=11))
def test_years_and_months_add_up(years, months):
    if years * 12 + months > MAX_AGE_MONTHS:
        with pytest.raises(UsageError):
            parse_age(f"{years}y{months}m")
    else:
        assert parse_age(f"{years}y{months}m") == years * 12 + months


@given(st.text(max_size=12))
def test_arbitrary_text_never_crashes(text):
    try:
        months = parse_age(text)
    except UsageError:
        return
    assert 0 <= months <= MAX_AGE_MONTHS


def test_cli_rejects_nonsense_age_with_exit_2(cli):
    for bad in ("-1y", "200y", "4x"):
        result = cli("scales", "--age", bad)
        assert result.code == 2, bad
        assert result.err.startswith("pedpain: error:")

"""Written-out numbers, amounts, ordinals and durations."""

from __future__ import annotations

import re

import pytest

from parcelflow.pipelines.leases.numbers import (
    COUNT_PATTERN,
    DURATION_PATTERN,
    ORDINAL_PATTERN,
    count_value,
    duration_months,
    ordinal_value,
    parse_amount,
    parse_written_amount,
    words_to_number,
)


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("seven", 7),
        ("twenty-one", 21),
        ("one hundred twenty-eight", 128),
        ("One Thousand Two Hundred", 1200),
        ("two million five hundred thousand", 2_500_000),
        ("thirty-seventh", 37),
        ("one hundred twentieth", 120),
    ],
)
def test_words_to_number(words: str, value: int) -> None:
    assert words_to_number(words) == value


def test_words_to_number_rejects_other_words() -> None:
    assert words_to_number("several") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("twenty-one (21)", 21), ("(9)", 9), ("84", 84), ("sixty", 60), ("Three (3)", 3)],
)
def test_count_value_prefers_parenthesised_digits(text: str, value: int) -> None:
    match = re.search(COUNT_PATTERN, text, re.IGNORECASE)
    assert match is not None
    assert count_value(match.group()) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("the sixtieth (60th) full calendar month", 60),
        ("the 96th month", 96),
        ("the twelfth month", 12),
        ("one hundred eighty-first (181st)", 181),
    ],
)
def test_ordinal_value(text: str, value: int) -> None:
    match = re.search(ORDINAL_PATTERN, text, re.IGNORECASE)
    assert match is not None
    assert ordinal_value(match.group()) == value


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("five (5) years", 60),
        ("Two (2) years and six (6) months", 30),
        ("84 full calendar months", 84),
        ("10 Lease Years and 4 months", 124),
        ("one (1) year", 12),
    ],
)
def test_duration_months(text: str, months: int) -> None:
    match = re.search(DURATION_PATTERN, text, re.IGNORECASE)
    assert match is not None
    assert duration_months(match.group()) == months


def test_duration_needs_a_unit() -> None:
    assert re.search(DURATION_PATTERN, "five (5) days", re.IGNORECASE) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("$1,250,000.00", 1_250_000.0), ("$ 4,015.50*", 4015.5), ("$37", 37.0), ("N/A", None)],
)
def test_parse_amount(text: str, value: float | None) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Forty-Two Thousand and No/100 Dollars", 42_000.0),
        ("Nine Thousand Four Hundred Six and 25/100 Dollars", 9406.25),
        ("Dollars only", None),
    ],
)
def test_parse_written_amount(text: str, value: float | None) -> None:
    assert parse_written_amount(text) == value

"""Dates as contracts write them, and term arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

from parcelflow.pipelines.leases.dates import (
    add_months,
    end_of_month,
    find_dates,
    first_date,
    months_spanned,
    parse_date,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("June 3, 2021", dt.date(2021, 6, 3)),
        ("SEPTEMBER 30, 2018", dt.date(2018, 9, 30)),
        ("the 5th day of April, 2016", dt.date(2016, 4, 5)),
        ("22nd day of October 2015", dt.date(2015, 10, 22)),
        ("9 March, 2004", dt.date(2004, 3, 9)),
        ("2 December 2011", dt.date(2011, 12, 2)),
        ("Aug. 14, 2019", dt.date(2019, 8, 14)),
        ("11/15/2017", dt.date(2017, 11, 15)),
        ("03/01/99", dt.date(1999, 3, 1)),
    ],
)
def test_parse_date(text: str, value: dt.date) -> None:
    assert parse_date(text) == value


def test_invalid_calendar_dates_are_not_dates() -> None:
    assert parse_date("February 30, 2021") is None
    assert first_date("on February 30, 2021") is None


def test_blank_form_dates_stay_unfilled() -> None:
    assert first_date("made this ____ day of __________, 20__") is None


def test_find_dates_reports_offsets() -> None:
    text = "from May 1, 2020 to April 30, 2025"
    found = list(find_dates(text))
    assert [f.value for f in found] == [dt.date(2020, 5, 1), dt.date(2025, 4, 30)]
    assert text[found[1].start : found[1].end] == "April 30, 2025"


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(dt.date(2021, 1, 31), 1) == dt.date(2021, 2, 28)
    assert add_months(dt.date(2020, 3, 1), 37) == dt.date(2023, 4, 1)


def test_end_of_month() -> None:
    assert end_of_month(dt.date(2024, 2, 10)) == dt.date(2024, 2, 29)


def test_months_spanned_whole_months_only() -> None:
    assert months_spanned(dt.date(2021, 7, 1), dt.date(2026, 6, 30)) == 60
    assert months_spanned(dt.date(2021, 7, 15), dt.date(2026, 7, 14)) == 60
    assert months_spanned(dt.date(2021, 7, 1), dt.date(2026, 6, 12)) is None

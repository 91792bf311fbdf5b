"""Calendar dates as contracts write them, and the month arithmetic of lease terms.

Recognised forms: ``March 24, 2020``, ``MAY 10, 2019``, ``the 28th day of February,
2020``, ``21st day of July 2020``, ``31 January, 1994``, ``13 October 2005``,
``7/23/2020`` and ``05/05/98`` (US month-first order, the convention of the EDGAR
filings these rules were tuned on). Blank forms (``____ day of ______, 20__``) never
match, so an unfilled date stays ``None``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DATE_PATTERN",
    "FoundDate",
    "add_months",
    "end_of_month",
    "find_dates",
    "first_date",
    "months_spanned",
    "parse_date",
]

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name} | {
    name.lower(): number for number, name in enumerate(calendar.month_abbr) if name
}
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"

DATE_PATTERN = (
    rf"(?:{_MONTH}\.?\s+{_DAY},?\s+{_YEAR}"
    rf"|(?:the\s+)?{_DAY}\s+day\s+of\s+{_MONTH},?\s+{_YEAR}"
    rf"|{_DAY}\s+{_MONTH},?\s+{_YEAR}"
    rf"|\d{{1,2}}/\d{{1,2}}/(?:{_YEAR}|\d\d))\b"
)
"""A date in any recognised form (compile with ``re.IGNORECASE``)."""

_DATE = re.compile(DATE_PATTERN, re.IGNORECASE)
_MONTH_FIRST = re.compile(rf"({_MONTH})\.?\s+(\d+)", re.IGNORECASE)
_DAY_FIRST = re.compile(rf"(\d+)(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?({_MONTH})", re.IGNORECASE)
_NUMERIC = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2,4})")
_YEAR_RE = re.compile(_YEAR)


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A date and where it was found (offsets into the searched text)."""

    value: dt.date
    start: int
    end: int


def parse_date(text: str) -> dt.date | None:
    """Parse one date written in any recognised form; ``None`` if it is not a date."""
    numeric = _NUMERIC.fullmatch(text.strip())
    if numeric:
        return _numeric_date(*numeric.groups())
    year = _YEAR_RE.search(text)
    month_first = _MONTH_FIRST.search(text)
    day_first = _DAY_FIRST.search(text)
    if year is None:
        return None
    if day_first and (month_first is None or day_first.start() < month_first.start()):
        return _safe_date(int(year.group()), _month(day_first.group(2)), int(day_first.group(1)))
    if month_first:
        return _safe_date(
            int(year.group()), _month(month_first.group(1)), int(month_first.group(2))
        )
    return None


def find_dates(text: str, start: int = 0, end: int | None = None) -> Iterator[FoundDate]:
    """Every valid date in ``text[start:end]``, in order."""
    for match in _DATE.finditer(text, start, len(text) if end is None else end):
        value = parse_date(match.group())
        if value is not None:
            yield FoundDate(value, match.start(), match.end())


def first_date(text: str, start: int = 0, end: int | None = None) -> FoundDate | None:
    """The first valid date in ``text[start:end]``."""
    return next(find_dates(text, start, end), None)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the end of shorter months."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def end_of_month(day: dt.date) -> dt.date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def months_spanned(start: dt.date, end: dt.date) -> int | None:
    """Whole months from ``start`` through ``end`` inclusive, if the span is whole.

    ``2020-04-01``..``2024-07-31`` → 52; a span that is not a whole number of months
    (the usual "commencement + N months - 1 day" shape) returns ``None``.
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    for candidate in (months, months + 1):
        if candidate > 0 and add_months(start, candidate) - dt.timedelta(days=1) == end:
            return candidate
    return None


def _month(name: str) -> int:
    return _MONTHS.get(name.lower().rstrip("."), _MONTHS.get(name.lower()[:3], 0))


def _numeric_date(month: str, day: str, year: str) -> dt.date | None:
    full_year = int(year)
    if full_year < 100:
        # Two-digit years in EDGAR exhibits span 1990s-2020s; pivot at 70.
        full_year += 1900 if full_year >= 70 else 2000
    return _safe_date(full_year, int(month), int(day))


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None

"""Amounts, counts, ordinals and durations as leases write them.

Legal drafting states numbers twice ("one hundred twenty-eight (128) months",
"One Million Two Hundred Thousand and No/100 Dollars ($1,200,000)"); when both forms
are present the figures in parentheses win, because they are what the parties check.

The ``*_PATTERN`` strings are regular-expression fragments meant to be embedded in
larger patterns compiled with ``re.IGNORECASE``; they contain no named groups.
"""

from __future__ import annotations

import re

__all__ = [
    "AMOUNT_PATTERN",
    "COUNT_PATTERN",
    "DURATION_PATTERN",
    "ORDINAL_PATTERN",
    "count_value",
    "duration_months",
    "ordinal_value",
    "parse_amount",
    "parse_written_amount",
    "words_to_number",
]

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINAL_UNITS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "sixtieth": 60,
    "seventieth": 70,
    "eightieth": 80,
    "ninetieth": 90,
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_ORDINAL_SCALES = {"hundredth": 100, "thousandth": 1_000, "millionth": 1_000_000}

_CARDINAL_WORD = "|".join(sorted([*_UNITS, *_SCALES], key=len, reverse=True))
_ANY_WORD = "|".join(
    sorted([*_UNITS, *_SCALES, *_ORDINAL_UNITS, *_ORDINAL_SCALES], key=len, reverse=True)
)
_ORDINAL_WORD = "|".join(sorted([*_ORDINAL_UNITS, *_ORDINAL_SCALES], key=len, reverse=True))

_CARDINAL_WORDS = rf"(?:{_CARDINAL_WORD})(?:(?:\s+|-)(?:and\s+)?(?:{_CARDINAL_WORD}))*\b"
_ORDINAL_WORDS = rf"(?:(?:{_CARDINAL_WORD})(?:\s+|-))*(?:{_ORDINAL_WORD})\b"

AMOUNT_PATTERN = r"\$\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?(?!\d)"
"""A dollar amount: ``$1,113,145.00``, ``$37.00``, ``$ 210,000``."""

COUNT_PATTERN = (
    rf"(?:{_CARDINAL_WORDS}\s*\(\s*\d+\s*\)|\(\s*\d+\s*\)|\b\d+(?:\.\d+)?\b|\b{_CARDINAL_WORDS})"
)
"""A count: ``twenty-one (21)``, ``(21)``, ``21`` or ``twenty-one``."""

ORDINAL_PATTERN = (
    rf"(?:\b{_ORDINAL_WORDS}\s*\(\s*\d+(?:st|nd|rd|th)\s*\)"
    rf"|\b\d+(?:st|nd|rd|th)\b|\b{_ORDINAL_WORDS})"
)
"""An ordinal: ``one hundred twentieth (120th)``, ``156th`` or ``twelfth``."""

DURATION_PATTERN = (
    rf"{COUNT_PATTERN}\s+(?:full\s+)?(?:calendar\s+|lease\s+)?(?:years?|months?)"
    rf"(?:\s*(?:,\s*)?(?:and|plus)\s+{COUNT_PATTERN}\s+(?:full\s+)?(?:calendar\s+)?months?)?"
)
"""A duration: ``three (3) years and two (2) months``, ``156 full calendar months``."""

_PAREN_DIGITS = re.compile(r"\(\s*(\d+)(?:st|nd|rd|th)?\s*\)")
_LEADING_DIGITS = re.compile(r"^\s*(\d+(?:\.\d+)?)")
_DIGITS = re.compile(r"\d+")
_DURATION_PART = re.compile(
    rf"({COUNT_PATTERN})\s+(?:full\s+)?(?:calendar\s+|lease\s+)?(years?|months?)", re.IGNORECASE
)
_CENTS = re.compile(r"\band\s+(\d{1,2}|no)\s*/\s*100\b", re.IGNORECASE)
_WORD_SPLIT = re.compile(r"[\s-]+")
_ANY_NUMBER_WORDS = re.compile(rf"(?:{_ANY_WORD})(?:(?:\s+|-)(?:and\s+)?(?:{_ANY_WORD}))*", re.I)


def parse_amount(text: str) -> float | None:
    """``"$1,113,145.00"`` → ``1113145.0``; ``None`` when ``text`` holds no figure."""
    cleaned = text.replace("$", "").replace(",", "").strip().rstrip("*")
    try:
        return round(float(cleaned), 2)
    except ValueError:
        return None


def words_to_number(text: str) -> int | None:
    """Cardinal or ordinal words to an integer: ``"one hundred twenty-eight"`` → 128.

    Returns ``None`` if any word is not a number word.
    """
    total, current = 0, 0
    for word in _WORD_SPLIT.split(text.lower().strip()):
        if word in ("", "and"):
            continue
        value = _UNITS.get(word, _ORDINAL_UNITS.get(word))
        scale = _SCALES.get(word, _ORDINAL_SCALES.get(word))
        if value is not None:
            current += value
        elif scale == 100:
            current = (current or 1) * 100
        elif scale is not None:
            total += (current or 1) * scale
            current = 0
        else:
            return None
    return total + current


def count_value(text: str) -> int | None:
    """The integer a :data:`COUNT_PATTERN` match stands for (parenthesised digits win)."""
    paren = _PAREN_DIGITS.search(text)
    if paren:
        return int(paren.group(1))
    leading = _LEADING_DIGITS.match(text)
    if leading:
        return int(float(leading.group(1)))
    return words_to_number(text)


def ordinal_value(text: str) -> int | None:
    """The integer an :data:`ORDINAL_PATTERN` match stands for: ``"156th"`` → 156."""
    paren = _PAREN_DIGITS.search(text)
    if paren:
        return int(paren.group(1))
    digits = _DIGITS.search(text)
    if digits:
        return int(digits.group())
    return words_to_number(text)


def duration_months(text: str) -> int | None:
    """Total months of a :data:`DURATION_PATTERN` match.

    ``"three (3) years and two (2) months"`` → 38; ``"156 full calendar months"`` → 156.
    """
    total, seen = 0, False
    for part in _DURATION_PART.finditer(text):
        count = count_value(part.group(1))
        if count is None:
            return None
        total += count * 12 if part.group(2).lower().startswith("year") else count
        seen = True
    return total if seen else None


def parse_written_amount(text: str) -> float | None:
    """A dollar amount written in words: ``"Eighty-Seven Thousand ... and 67/100"``.

    Returns ``None`` unless ``text`` starts with number words.
    """
    words = _ANY_NUMBER_WORDS.match(text.strip())
    if not words:
        return None
    whole = words_to_number(words.group())
    if whole is None:
        return None
    cents = _CENTS.search(text)
    fraction = 0 if not cents or cents.group(1).lower() == "no" else int(cents.group(1))
    return whole + fraction / 100

"""Scoring lease abstracts against hand-read gold abstracts.

Used by ``bench/lease_accuracy.py`` and the accuracy test. Conventions follow
``gold_abstracts.README.md``:

* a field listed in a document's ``derived_fields`` is not required: leaving it
  ``None`` is no miss, but a value given must be right;
* ``acceptable_alternatives`` count as right;
* names, addresses, dates and amounts are compared after normalisation (case,
  punctuation, "L.L.C."/"LLC", "N."/"North", "St."/"Street", cents);
* free-text rules (``commencement_rule``, ``expiration_rule``) are scored on presence:
  a rule where the gold has one is right, a rule where the gold has none is wrong;
  ``permitted_use`` is right when it shares at least half of the gold's content words.

The scorer is deliberately independent of the extraction rules' own normalisers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DOCUMENT_FIELDS",
    "PRECISION_TARGET",
    "RECALL_FIELDS",
    "RECALL_TARGET",
    "FieldScore",
    "Scoreboard",
    "load_gold",
    "matches",
    "normalise_name",
    "score_document",
    "target_failures",
]

PRECISION_TARGET = 0.95
RECALL_TARGET = 0.85
RECALL_FIELDS: tuple[str, ...] = (
    "landlord",
    "tenant",
    "premises_address",
    "rentable_square_feet",
    "lease_date",
    "term_months",
    "base_rent_initial",
    "security_deposit",
    "renewal_options",
)
"""Fields with a recall target; ``base_rent_initial`` is right when the initial monthly
or the initial annual rent is."""

DOCUMENT_FIELDS: tuple[str, ...] = (
    "landlord",
    "tenant",
    "premises_address",
    "rentable_square_feet",
    "lease_date",
    "commencement_date",
    "expiration_date",
    "commencement_rule",
    "expiration_rule",
    "term_months",
    "base_rent_initial_monthly",
    "base_rent_initial_annual",
    "rent_per_sf_annual",
    "rent_schedule",
    "security_deposit",
    "security_deposit_form",
    "renewal_options",
    "permitted_use",
    "governing_law",
    "currency",
)
_GOLD_NAMES = {"rent_schedule": "rent_escalation"}


@dataclass(slots=True)
class FieldScore:
    """Counts for one field: right values, wrong values, values missed."""

    right: int = 0
    wrong: int = 0
    missed: int = 0

    @property
    def precision(self) -> float | None:
        """Share of emitted values that are right (``None`` if nothing was emitted)."""
        emitted = self.right + self.wrong
        return self.right / emitted if emitted else None

    @property
    def recall(self) -> float | None:
        """Share of gold values found (``None`` if the gold has none)."""
        wanted = self.right + self.missed
        return self.right / wanted if wanted else None


@dataclass(slots=True)
class Scoreboard:
    """Field scores over a set of documents, and which documents went wrong where."""

    fields: dict[str, FieldScore] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def score(self, name: str) -> FieldScore:
        """The (created on first use) score of field ``name``."""
        return self.fields.setdefault(name, FieldScore())


def load_gold(folder: Path) -> dict[str, dict[str, Any]]:
    """``gold_abstracts.json`` of ``folder``, keyed by document file name."""
    data = json.loads((folder / "gold_abstracts.json").read_text(encoding="utf-8"))
    return {name: dict(entry) for name, entry in data.items()}


def score_document(
    board: Scoreboard, name: str, predicted: Mapping[str, Any], gold: Mapping[str, Any]
) -> None:
    """Add one document's abstract (``model_dump(mode="json")`` shape) to ``board``."""
    derived = set(gold.get("derived_fields", []))
    alternatives: Mapping[str, list[Any]] = gold.get("acceptable_alternatives", {})
    for field_name in DOCUMENT_FIELDS:
        expected = gold.get(_GOLD_NAMES.get(field_name, field_name))
        options = [expected, *alternatives.get(field_name, [])]
        verdict = _judge(field_name, predicted.get(field_name), options, field_name in derived)
        _count(board, name, field_name, verdict, predicted.get(field_name), expected)
    _score_initial_rent(board, name, predicted, gold, derived)


def target_failures(board: Scoreboard) -> list[str]:
    """One line per missed target (precision on every field, recall on the listed ones)."""
    failures = []
    for name, score in sorted(board.fields.items()):
        precision = score.precision
        if precision is not None and precision < PRECISION_TARGET:
            failures.append(f"{name}: precision {precision:.2f} < {PRECISION_TARGET}")
    for name in RECALL_FIELDS:
        recall = board.score(name).recall
        if recall is not None and recall < RECALL_TARGET:
            failures.append(f"{name}: recall {recall:.2f} < {RECALL_TARGET}")
    return failures


def matches(field_name: str, predicted: Any, expected: Any) -> bool:
    """Whether a predicted value is right for a non-null gold value."""
    return _MATCHERS.get(field_name, _equal)(predicted, expected)


# -- counting -------------------------------------------------------------------------


def _judge(field_name: str, predicted: Any, options: list[Any], derived: bool) -> str:
    expected = options[0]
    if predicted is None:
        if expected is None or derived:
            return "none"
        return "missed"
    if expected is None and not derived and len(options) == 1:
        return "wrong"
    right = any(option is not None and matches(field_name, predicted, option) for option in options)
    if right:
        return "right"
    return "wrong_derived" if derived else "wrong_missed"


def _count(
    board: Scoreboard, name: str, field_name: str, verdict: str, predicted: Any, expected: Any
) -> None:
    score = board.score(field_name)
    if verdict == "right":
        score.right += 1
    elif verdict == "missed":
        score.missed += 1
    elif verdict in ("wrong", "wrong_derived", "wrong_missed"):
        score.wrong += 1
        score.missed += verdict == "wrong_missed"
        board.errors.append(f"{name}: {field_name} = {predicted!r}, gold {expected!r}")
    if verdict == "missed":
        board.errors.append(f"{name}: {field_name} missed, gold {expected!r}")


def _score_initial_rent(
    board: Scoreboard,
    name: str,
    predicted: Mapping[str, Any],
    gold: Mapping[str, Any],
    derived: set[str],
) -> None:
    alternatives: Mapping[str, list[Any]] = gold.get("acceptable_alternatives", {})
    verdicts = []
    for field_name in ("base_rent_initial_monthly", "base_rent_initial_annual"):
        options = [gold.get(field_name), *alternatives.get(field_name, [])]
        verdicts.append(
            _judge(field_name, predicted.get(field_name), options, field_name in derived)
        )
    score = board.score("base_rent_initial")
    if "right" in verdicts:
        score.right += 1
    elif any(v.startswith("wrong") for v in verdicts):
        score.wrong += 1
        score.missed += 1
    elif (
        gold.get("base_rent_initial_monthly") is not None
        or gold.get("base_rent_initial_annual") is not None
    ):
        score.missed += 1


# -- matchers -------------------------------------------------------------------------


def _equal(predicted: Any, expected: Any) -> bool:
    return bool(predicted == expected)


def _amount(predicted: Any, expected: Any) -> bool:
    try:
        return abs(float(predicted) - float(expected)) <= 0.011 + 1e-6 * abs(float(expected))
    except (TypeError, ValueError):
        return False


def _presence(predicted: Any, expected: Any) -> bool:
    return bool(predicted) and bool(expected)


_ENTITY_WORDS = {
    "incorporated": "inc",
    "corporation": "corp",
    "company": "co",
    "limited": "ltd",
    "l l c": "llc",
    "l p": "lp",
}


def normalise_name(text: str) -> str:
    """Lower case, no punctuation, "L.L.C." = "LLC", "Inc." = "Incorporated", no "the"."""
    folded = re.sub(r"[^\w&]+", " ", text.lower()).replace("&", " and ")
    folded = re.sub(r"\b([a-z]) (?=[a-z]\b)", r"\1", folded)  # l l c -> llc
    words = [_ENTITY_WORDS.get(w, w) for w in folded.split() if w != "the"]
    return " ".join(words)


def _name(predicted: Any, expected: Any) -> bool:
    return normalise_name(str(predicted)) == normalise_name(str(expected))


_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip
_STREET_WORDS = {
    "st": "street", "ave": "avenue",
    "blvd": "boulevard", "rd": "road", "dr": "drive", "ln": "lane", "hwy": "highway",
    "pkwy": "parkway", "pl": "place", "ct": "court", "ste": "suite", "no": "", "bldg": "building",
}  # fmt: skip
_SUFFIXES = {
    "street", "avenue", "boulevard", "road", "drive", "lane", "way", "parkway", "place",
    "court", "circle", "plaza", "square", "terrace", "trail", "highway", "route", "center",
}  # fmt: skip


_DIRECTIONS = {"n": "north", "s": "south", "e": "east", "w": "west"}
_TRAILING_DIRECTIONS = {"n", "s", "e", "w", "ne", "nw", "se", "sw"}
_SUITE = re.compile(r"\bsuites?\s+(?:no\.?\s+)?([\w-]+(?:(?:,\s*[\w-]+)*,?\s+and\s+[\w-]+)?)", re.I)


def _address_tokens(text: str) -> list[str]:
    words = re.sub(r"[^\w]+", " ", _SUITE.sub(" ", text).lower()).split()
    return [t for t in (_NUMBER_WORDS.get(w, _STREET_WORDS.get(w, w)) for w in words) if t]


def _street_line(tokens: list[str]) -> tuple[str, ...]:
    """Number, street name and suffix (plus a highway's number and a direction)."""
    for start, token in enumerate(tokens[:-1]):
        if not token.isdigit() or tokens[start + 1].isdigit():
            continue
        for end in range(start + 1, min(len(tokens), start + 7)):
            if tokens[end] in _SUFFIXES:
                line = tokens[start : _line_end(tokens, end)]
                return tuple(_DIRECTIONS.get(token, token) for token in line)
    return ()


def _line_end(tokens: list[str], suffix: int) -> int:
    stop = suffix + 1
    if tokens[suffix] in ("highway", "route") and stop < len(tokens):
        stop += 1
    if stop < len(tokens) and tokens[stop] in _TRAILING_DIRECTIONS:
        stop += 1
    return stop


def _suites(text: str) -> set[str]:
    groups = _SUITE.findall(text)
    return {s.lower() for group in groups for s in re.split(r",\s*(?:and\s+)?|\s+and\s+", group)}


def _address(predicted: Any, expected: Any) -> bool:
    line = _street_line(_address_tokens(str(expected)))
    if not line or _street_line(_address_tokens(str(predicted))) != line:
        return False
    if _suites(str(predicted)) != _suites(str(expected)):
        return False
    zips = [re.findall(r"\b\d{5}\b(?!.*\b\d{5}\b)", str(v)) for v in (predicted, expected)]
    return not (zips[0] and zips[1] and zips[0] != zips[1])


_STOP_WORDS = set(
    [
        "the",
        "and",
        "or",
        "of",
        "for",
        "a",
        "an",
        "to",
        "in",
        "by",
        "with",
        "any",
        "other",
        "uses",
        "use",
        "its",
        "such",
        "as",
        "thereto",
        "related",
    ]
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in _STOP_WORDS}


def _use(predicted: Any, expected: Any) -> bool:
    gold, mine = _content_words(str(expected)), _content_words(str(predicted))
    return bool(gold) and len(gold & mine) / len(gold) >= 0.5


def _law(predicted: Any, expected: Any) -> bool:
    def fold(text: str) -> str:
        """Lower case without "State of" / "Commonwealth of" and punctuation."""
        return re.sub(r"\b(?:the|state|commonwealth|of)\b|\W", "", text.lower())

    return fold(str(predicted)) == fold(str(expected))


def _renewal(predicted: Any, expected: Any) -> bool:
    if not isinstance(predicted, Mapping) or not isinstance(expected, Mapping):
        return False
    return all(_optional_number(predicted.get(k), expected.get(k)) for k in ("count", "years"))


def _optional_number(predicted: Any, expected: Any) -> bool:
    if predicted is None or expected is None:
        return predicted is None and expected is None
    return _amount(predicted, expected)


def _schedule(predicted: Any, expected: Any) -> bool:
    if not isinstance(predicted, list) or not isinstance(expected, list):
        return False
    if len(predicted) != len(expected):
        return False
    return all(_schedule_row(p, e) for p, e in zip(predicted, expected, strict=True))


def _schedule_row(predicted: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    months = all(predicted.get(k) == expected.get(k) for k in ("from_month", "to_month"))
    amounts = all(
        _optional_number(predicted.get(k), expected.get(k)) for k in ("monthly", "annual", "per_sf")
    )
    return months and amounts


_MATCHERS: dict[str, Callable[[Any, Any], bool]] = {
    "landlord": _name,
    "tenant": _name,
    "premises_address": _address,
    "rentable_square_feet": _amount,
    "base_rent_initial_monthly": _amount,
    "base_rent_initial_annual": _amount,
    "rent_per_sf_annual": _amount,
    "security_deposit": _amount,
    "commencement_rule": _presence,
    "expiration_rule": _presence,
    "permitted_use": _use,
    "governing_law": _law,
    "renewal_options": _renewal,
    "rent_schedule": _schedule,
}

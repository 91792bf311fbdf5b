"""Configurable value normalisers: declare format-only differences equivalent.

Real layers are noisy between snapshots. San Jose wrote the same rezoning file
number ``PDC13-041`` one year and ``13041`` the next, and ``14-037`` became
``14-37``; county layers pad strings with spaces. A change report should not
call those changes. Normalisers are declared per field as text, the way the CLI
takes them::

    ZONE_FILE=file_number          one normaliser
    OWNER=strip,upper              a chain, applied left to right
    *=strip                        every field without its own rule
    OBJECTID=ignore                leave the field out of comparisons
    PLAN=regex:^PLN-?(\\d+)$=>\\1   a regular expression and its replacement

Normalised values are used only to compare; reports show the values as stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parcelflow.errors import ConfigError

__all__ = [
    "BUILTIN",
    "Normalizer",
    "Normalizers",
    "file_number",
    "shape_metric_fields",
]

Normalizer = Callable[[Any], Any]
# Planning / rezoning file numbers: optional letter prefix (PDC, PD, C), two-digit
# year, optional dash, sequence of up to three digits (San Jose's ZONE_FILE).
_FILE_NUMBER = re.compile(r"^\s*[A-Za-z]*\s*(\d{2})\s*-?\s*(\d{1,3})\s*$")
# Area and length fields the geodatabase recomputes whenever the shape changes.
_SHAPE_METRIC = re.compile(r"^(shape[._]?(st)?(area|len|length)|st_(area|length)\(shape\))", re.I)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _collapse_spaces(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _blank_is_null(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _digits(value: Any) -> Any:
    return "".join(ch for ch in value if ch.isdigit()) if isinstance(value, str) else value


def _number(value: Any) -> Any:
    """Numeric text and integral floats compare as numbers (``"7"``, ``7.0`` and ``7``)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def file_number(value: Any) -> Any:
    """``PDC13-041``, ``13-041``, ``13-41`` and ``13041`` all become ``13041``.

    Values that do not look like a file number are returned stripped, unchanged otherwise.
    """
    if not isinstance(value, str):
        return value
    match = _FILE_NUMBER.match(value)
    if match is None:
        return value.strip()
    year, sequence = match.groups()
    return f"{year}{int(sequence):03d}"


BUILTIN: dict[str, Normalizer] = {
    "strip": _strip,
    "upper": _upper,
    "lower": _lower,
    "collapse_spaces": _collapse_spaces,
    "blank_is_null": _blank_is_null,
    "digits": _digits,
    "number": _number,
    "file_number": file_number,
}


def _regex(spec: str) -> Normalizer:
    pattern, sep, replacement = spec.partition("=>")
    if not sep:
        raise ConfigError(f"regex normaliser needs PATTERN=>REPLACEMENT, got {spec!r}")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"bad regex normaliser {pattern!r}: {exc}") from exc

    def apply(value: Any) -> Any:
        return compiled.sub(replacement, value) if isinstance(value, str) else value

    return apply


def _parse_step(step: str) -> Normalizer:
    name = step.strip()
    if name.startswith("regex:"):
        return _regex(name.removeprefix("regex:"))
    if name.startswith("round:"):
        digits = int(name.removeprefix("round:"))
        return lambda v: round(v, digits) if isinstance(v, float) else v
    try:
        return BUILTIN[name]
    except KeyError:
        known = ", ".join(sorted([*BUILTIN, "ignore", "regex:P=>R", "round:N"]))
        raise ConfigError(f"unknown normaliser {name!r}; known: {known}") from None


def shape_metric_fields(names: Iterable[str]) -> set[str]:
    """The fields among ``names`` that are derived from the geometry (``Shape_Area``…)."""
    return {name for name in names if _SHAPE_METRIC.match(name)}


@dataclass(frozen=True)
class Normalizers:
    """Normalisers per field, plus the fields left out of comparisons.

    Attributes:
        by_field: chains for named fields.
        default: chain for every other field (``*=...``).
        ignore: fields not compared at all.
    """

    by_field: Mapping[str, tuple[Normalizer, ...]] = field(default_factory=dict)
    default: tuple[Normalizer, ...] = ()
    ignore: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, specs: Sequence[str]) -> Normalizers:
        """Build from ``FIELD=step[,step...]`` texts (see the module docstring).

        Raises:
            ConfigError: a spec is malformed or names an unknown normaliser.
        """
        by_field: dict[str, tuple[Normalizer, ...]] = {}
        default: tuple[Normalizer, ...] = ()
        ignore: set[str] = set()
        for spec in specs:
            name, sep, steps = spec.partition("=")
            if not sep or not name.strip() or not steps.strip():
                raise ConfigError(f"normaliser {spec!r}: write FIELD=NAME[,NAME...]")
            if steps.strip() == "ignore":
                ignore.add(name.strip())
                continue
            chain = tuple(_parse_step(s) for s in _split_steps(steps))
            if name.strip() == "*":
                default = chain
            else:
                by_field[name.strip()] = chain
        return cls(by_field, default, frozenset(ignore))

    def with_ignored(self, names: Iterable[str]) -> Normalizers:
        """A copy that also ignores ``names``."""
        return Normalizers(self.by_field, self.default, self.ignore | frozenset(names))

    def value(self, name: str, value: Any) -> Any:
        """The comparable form of ``value`` of field ``name``."""
        for step in self.by_field.get(name, self.default):
            value = step(value)
        return value

    def attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Comparable form of a whole attribute mapping, ignored fields left out."""
        return {k: self.value(k, v) for k, v in attrs.items() if k not in self.ignore}


def _split_steps(steps: str) -> list[str]:
    # A regex step may itself contain commas: it must come last in its chain.
    head, sep, regex = steps.partition("regex:")
    parts = [s for s in head.split(",") if s.strip()]
    return [*parts, "regex:" + regex] if sep else parts

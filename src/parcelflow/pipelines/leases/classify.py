"""Is this document a lease? A decision with its reason, from the language of leasing.

A lease talks about a landlord (lessor), a tenant (lessee) and premises, constantly:
the seven EDGAR leases use landlord/lessor 17-24 times and tenant/lessee 3-26 times
per 1,000 words (a DC government in-lease calls its tenant "the District", hence the
low end). The 21 CUAD non-leases (franchise, agency, maintenance, outsourcing ...)
stay at or below 1.1 per 1,000 for at least one of the two, even those with a lease
addendum or an equipment "Lessor" among their parties. Thresholds sit well inside that
gap. Instruments that merely *refer* to a lease (guaranties, estoppel certificates,
SNDAs) are recognised by their title.

Structured data is not a document at all, however much lease vocabulary it holds (a
JSON export of lease abstracts says "landlord" and "premises" in every record): text
that parses as JSON, is thick with JSON or markup syntax, or is a table of delimited
records is turned away before the language is weighed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass

from parcelflow.pipelines.leases.corpus import Corpus

__all__ = ["MIN_WORDS", "LeaseVerdict", "classify", "structured_data"]

MIN_WORDS = 100
"""Below this there is not enough text to be a lease (a cover page, a blank scan)."""

MIN_LANDLORD_PER_1000 = 3.0
MIN_TENANT_PER_1000 = 1.5
MIN_PREMISES_PER_1000 = 1.5

_LANDLORD = re.compile(
    r"\b(?:Landlord|LANDLORD|Lessor|LESSOR|Sublandlord|SUBLANDLORD|Sublessor)s?\b"
)
_LANDLORD_OPENINGS = ("landlord", "lessor", "sublandlord", "sublessor")
_TENANT = re.compile(r"\b(?:Tenant|TENANT|Lessee|LESSEE|Subtenant|SUBTENANT|Sublessee)s?\b")
_TENANT_OPENINGS = ("tenant", "lessee", "subtenant", "sublessee")
# Ground and net leases may lease "Property" or "Space" rather than "Premises".
_PREMISES = re.compile(
    r"\b(?:Premises|PREMISES|premises|Leased Property|Demised Property|Leased Space|Building)\b"
)
_PREMISES_OPENINGS = ("premises", "leased", "demised", "building")

MAX_SYNTAX_SHARE = 0.03
"""Share of the non-blank characters that may be JSON syntax (``{}[]":``) in a document.

Measured: the 7 EDGAR leases and 21 CUAD contracts (text, PDF, DOCX) stay at or below
0.009; JSON files run 0.045-0.19 and CSV with quoted fields 0.026-0.13.
"""
MAX_MARKUP_SHARE = 0.2
"""Share of the non-blank characters that may sit inside ``<...>`` tags (XML, SGML).
Documents measure 0.000 (HTML reaches us as text); an XML export of abstracts 0.55."""
MIN_TABLE_SHARE = 0.8
"""Share of delimited records with the same number (3 or more) of fields that makes a
table. CSV and TSV files measure 0.99-1.0; documents at most 0.47 (a few
comma-heavy lines)."""
_SYNTAX_SAMPLE = 65_536
_TABLE_SAMPLE = 16_384
"""A table shows in its first lines (~200 records); prose is cheap to rule out there."""
_TABLE_MIN_RECORDS = 5
_DELIMITERS = (",", "\t", ";", "|")
_JSON_SYNTAX = '{}[]":'
_TAG = re.compile(r"<[^<>]{1,200}>")
_TITLE_WINDOW = 600
_OTHER_INSTRUMENT = re.compile(
    r"\b(?:GUARANTY|GUARANTEE|ESTOPPEL|SUBORDINATION|NON-DISTURBANCE|ATTORNMENT|"
    r"MEMORANDUM OF LEASE|ASSIGNMENT AND ASSUMPTION|LETTER OF CREDIT)\b"
)
_LEASE_TITLE = re.compile(r"\b(?:SUB)?LEASE\b|\bL E A S E\b|\bIn-Lease\b", re.I)


@dataclass(frozen=True, slots=True)
class LeaseVerdict:
    """Whether a document is a lease, and why (one line, for the quarantine reason)."""

    is_lease: bool
    reason: str


def classify(corpus: Corpus) -> LeaseVerdict:
    """Decide whether ``corpus`` is a lease (including subleases and in-leases)."""
    words = corpus.word_count
    if words < MIN_WORDS:
        return LeaseVerdict(False, f"only {words} words of text")
    data = structured_data(corpus)
    if data is not None:
        return LeaseVerdict(False, f"structured data, not a document ({data})")
    landlord = _per_1000(corpus, _LANDLORD, _LANDLORD_OPENINGS)
    tenant = _per_1000(corpus, _TENANT, _TENANT_OPENINGS)
    premises = _per_1000(corpus, _PREMISES, _PREMISES_OPENINGS)
    densities = (
        f"landlord {landlord:.1f}, tenant {tenant:.1f}, premises {premises:.1f} per 1,000 words"
    )
    if landlord < MIN_LANDLORD_PER_1000 or tenant < MIN_TENANT_PER_1000:
        return LeaseVerdict(False, f"too little landlord/tenant language ({densities})")
    if premises < MIN_PREMISES_PER_1000:
        return LeaseVerdict(False, f"no leased premises ({densities})")
    title = _other_title(corpus.text)
    if title is not None:
        # Guaranties and estoppels speak the language of the lease they refer to.
        return LeaseVerdict(False, f"titled as a {title.lower()}, an instrument about a lease")
    return LeaseVerdict(True, f"lease language throughout ({densities})")


def structured_data(corpus: Corpus) -> str | None:
    """What kind of structured data ``corpus`` holds (JSON, markup, a table), or ``None``
    for a document."""
    # Data files are uniform: their opening shows what they are (and is cheap to count).
    sample = corpus.text[:_SYNTAX_SAMPLE]
    visible = max(1, len(sample) - sample.count(" "))
    syntax = sum(sample.count(char) for char in _JSON_SYNTAX) / visible
    markup = sum(len(tag) for tag in _TAG.findall(sample)) / visible
    if _parses_as_json(corpus):
        return "the text parses as JSON"
    if syntax > MAX_SYNTAX_SHARE:
        return f"{syntax:.0%} of its characters are JSON syntax"
    if markup > MAX_MARKUP_SHARE:
        return f"{markup:.0%} of its characters are markup tags"
    return _table(_opening_lines(corpus))


def _parses_as_json(corpus: Corpus) -> bool:
    if not corpus.text.startswith(("{", "[")):
        return False
    try:
        json.loads("\n".join(view.original for view in corpus.views).lstrip("\ufeff"))
    except ValueError:  # json.JSONDecodeError, or a number too long to convert
        return False
    return True


def _opening_lines(corpus: Corpus) -> str:
    """The first :data:`_TABLE_SAMPLE` characters of the text, line breaks kept."""
    parts: list[str] = []
    size = 0
    for view in corpus.views:
        if size >= _TABLE_SAMPLE:
            break
        parts.append(view.original)
        size += len(view.original) + 1
    return "\n".join(parts)[:_TABLE_SAMPLE]


def _table(sample: str) -> str | None:
    """A description of ``sample`` as delimited records, if that is what it is."""
    for delimiter in _DELIMITERS:
        records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(r)]
        if len(records) < _TABLE_MIN_RECORDS:
            continue
        width, count = Counter(len(record) for record in records).most_common(1)[0]
        if width >= 3 and count / len(records) >= MIN_TABLE_SHARE:
            name = "tab" if delimiter == "\t" else repr(delimiter)
            return (
                f"a table: {count} of {len(records)} records have {width} {name}-separated fields"
            )
    return None


def _per_1000(corpus: Corpus, pattern: re.Pattern[str], openings: tuple[str, ...]) -> float:
    return sum(1 for _ in corpus.finditer(pattern, openings)) * 1000 / corpus.word_count


def _other_title(text: str) -> str | None:
    """The instrument named before any "lease" in the opening (a guaranty *of* a lease)."""
    opening = text[:_TITLE_WINDOW]
    other = _OTHER_INSTRUMENT.search(opening)
    if other is None:
        return None
    lease = _LEASE_TITLE.search(opening)
    return other.group() if lease is None or other.start() < lease.start() else None

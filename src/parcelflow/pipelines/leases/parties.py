"""Who the parties are: the opening clause, the summary, definitions and the cover page.

Contracts introduce parties in a few stock shapes::

    ... by and between ACME, LLC, a Delaware limited liability company ("Landlord"),
        and BETA, INC., a Delaware corporation ("Tenant").
    LEASE BETWEEN ACME, LLC, AS LANDLORD, AND BETA, INC., AS TENANT
    Landlord: ACME, LLC, a Delaware limited liability company
    "District" means the District of Columbia, ..., as the tenant under this Lease

A party's name is the text before its role marker with the descriptors removed (", a
Delaware corporation", "having offices at ..."), kept as written otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.fields import Found, corroborated
from parcelflow.pipelines.leases.spans import SOURCE_CONFIDENCE, Source, labelled

__all__ = [
    "LANDLORD_ROLES",
    "TENANT_ROLES",
    "Party",
    "agreement_parties",
    "clean_name",
    "find_landlord",
    "find_tenant",
    "name_key",
    "plausible_name",
]

LANDLORD_ROLES = frozenset({"landlord", "lessor", "sublandlord", "sublessor", "overlandlord"})
TENANT_ROLES = frozenset({"tenant", "lessee", "subtenant", "sublessee"})
_ROLE_WORDS = "|".join(sorted(LANDLORD_ROLES | TENANT_ROLES))
# Role nouns that stand in for a party not named in the text ("and Franchisee (as
# defined below)"); never a name on their own.
_GENERIC_ROLES = frozenset(
    {"franchisee", "franchisor", "licensee", "licensor", "company", "client", "customer",
     "vendor", "supplier", "purchaser", "seller", "buyer", "guarantor", "borrower", "lender",
     "owner", "contractor", "consultant", "provider", "party", "parties"}
)  # fmt: skip

_OPENING = re.compile(
    r"\b(?:by and between|between|by and among|entered into by|made by)\b:?", re.I
)
_OPENING_WORDS = ("by and", "between", "entered into by", "made by")
_OPENING_WINDOW = 60_000
"""Openings are looked for this far into the text (covers, tables of contents and
exhibit lists come first in long leases)."""
_BODY_LIMIT = 1_800
_PAREN_ROLE = re.compile(
    r'\(([^()"]{0,100}"[^"]{1,50}"[^()]{0,160})\)'
    # Quotes lost in conversion, or never there: "( Landlord )", "(Lessor, hereinafter ...)".
    rf"|\(\s*(?:the\s+)?({_ROLE_WORDS})\s*(?:,[^()]{{0,80}})?\)"
    r"|\(\s*here(?:in)?after\s+(?:referred\s+to\s+as|called)\s+(?:the\s+)?"
    r"((?-i:[A-Z][\w&.-]*)(?:\s+(?-i:[A-Z][\w&.-]*)){0,3})\s*\)",
    re.I,
)
_QUOTED = re.compile(r'"([^"]{1,50})"')
_AS_ROLE = re.compile(rf",?\s+as\s+(?:the\s+)?({_ROLE_WORDS})\b(?!\s+of\b)", re.I)
_NOT_A_PARTY = re.compile(
    r"\b(?:lease|agreement|amendment|date|premises|building|property|project|land|term)\b", re.I
)
_OPENING_END = re.compile(r"\b(?:WITNESSETH|W I T N E S S E T H|RECITALS|WHEREAS|BACKGROUND)\b")

_ENTITY = (
    r"(?:limited liability (?:company|partnership)|limited partnership|general partnership|"
    r"(?:business |statutory |real estate investment )?trust|national (?:banking )?association|"
    r"professional corporation|public benefit corporation|municipal corporation|corporation|"
    r"company|partnership|association|bank|cooperative|l\.?l\.?c\.?|l\.?p\.?)"
)
_DESCRIPTOR = re.compile(rf",?\s+an?\s+(?:[\w.&'-]+\s+){{0,5}}?{_ENTITY}(?=\W|$)", re.I)
_CUT = re.compile(
    r"\s*\(|,?\s+(?:having|whose|with\s+(?:its|an|a)\s+(?:principal\s+)?(?:office|place|address)"
    r"|(?:located|organized|incorporated|existing)\s|c/o\s|attn\b|attention\b)"
    r"|,\s+as\s+the\s|,\s+(?:under|pursuant\s+to)\s|,?\s+(?:at|of)\s+\d|\s+\d{2,6}\s+(?-i:[A-Z][a-z]+\s)"
    r"|\s+(?:By|Name|Title|Date):|\s+-{4,}",
    re.I,
)
_CONTINUES = re.compile(r",?\s+(?:and\s+[A-Z0-9]|as\s+\w)")
_LEADING = re.compile(r"^(?:[\s,;:.\-●•*]+|\([a-z0-9]{1,3}\)|(?:and|-and-|&)\b)*", re.I)
_TRAILING = re.compile(r"[\s,;:\-]+$|,?\s+(?:and|or)$", re.I)
# ", a California Limited" left dangling when a value was cut short.
_DANGLING_DESCRIPTOR = re.compile(r",\s+an?\b(?:\s+[A-Z][\w.&'-]*){0,5}\s*$")
_UNUSABLE = re.compile(
    r"^(?:as\b|see\b|set forth|the cover|same as|n/?a\b|none\b|tbd\b)|_{3,}|\[|\bcover page\b",
    re.I,
)
_JOINT = re.compile(rf"\b{_ENTITY}(,\s+and\s+)", re.I)
# "Acme, LLC." at the end of a sentence: the period is the sentence's, not the name's.
_ACRONYM_STOP = re.compile(r"\b(LLC|LP|LLP|PLLC)\.$")
_SUFFIX_SPACING = re.compile(r"\b([a-z])\.\s?(?=[a-z]\b)")


@dataclass(frozen=True, slots=True)
class Party:
    """A party named in the text, with its role label and where it was found."""

    name: str
    role: str
    start: int
    end: int
    source: Source


def clean_name(raw: str) -> str:
    """A party's name without its descriptors.

    ``"ACME, L.L.C., a New Jersey limited liability company, having offices at ..."``
    becomes ``"ACME, L.L.C."``. Text after a descriptor is kept only when it joins
    another entity ("X, a ... company and Y, a ... company") or qualifies the party
    ("..., as Tenants in Common"); anything else there is an address or a signature.
    """
    text = _LEADING.sub("", raw.strip())
    cut = _CUT.search(text, 1)
    if cut:
        text = text[: cut.start()]
    kept: list[str] = []
    position = 0
    for descriptor in _DESCRIPTOR.finditer(text):
        kept.append(text[position : descriptor.start()])
        position = descriptor.end()
        if not _CONTINUES.match(text, position):
            break
    else:
        kept.append(text[position:])
    name = _DANGLING_DESCRIPTOR.sub("", "".join(kept))
    name = _ACRONYM_STOP.sub(r"\1", _TRAILING.sub("", name).strip())
    return name


def plausible_name(name: str) -> bool:
    """Whether ``name`` looks like a party's name rather than a role or a blank."""
    words = name.split()
    if not 1 <= len(words) <= 30 or _UNUSABLE.search(name):
        return False
    if name.lower().strip(".") in LANDLORD_ROLES | TENANT_ROLES | _GENERIC_ROLES:
        return False
    capitalised = sum(1 for word in words if word[:1].isupper() or word[:1].isdigit())
    first = words[1] if words[0].lower() == "the" and len(words) > 1 else words[0]
    starts_properly = first[:1].isupper() or first[:1].isdigit()
    return starts_properly and capitalised / len(words) >= 0.3 and any(c.isalpha() for c in name)


def name_key(name: str) -> str:
    """A comparison key for names: case, punctuation and "L.L.C."-style spacing folded."""
    folded = _SUFFIX_SPACING.sub(r"\1", name.lower())
    folded = re.sub(r"[^\w&]+", " ", folded).replace("&", " and ")
    words = [w for w in folded.split() if w != "the"]
    return " ".join(words)


def agreement_parties(corpus: Corpus) -> list[Party]:
    """The parties of the opening clause ("by and between X (...) and Y (...)").

    The first opening that names at least two plausible parties wins; failing that,
    the first that names one.
    """
    fallback: list[Party] = []
    for parties in _opening_parties(corpus):
        if len(parties) >= 2:
            return parties
        fallback = fallback or parties
    return fallback


def find_landlord(corpus: Corpus) -> Found[str] | None:
    """The landlord's legal name as written."""
    return _find_role(corpus, LANDLORD_ROLES, "landlord|lessor|sublandlord|sublessor")


def find_tenant(corpus: Corpus) -> Found[str] | None:
    """The tenant's legal name as written."""
    return _find_role(corpus, TENANT_ROLES, "tenant|lessee|subtenant|sublessee")


def _find_role(corpus: Corpus, roles: frozenset[str], label: str) -> Found[str] | None:
    candidates = [
        *_from_openings(corpus, roles),
        *_from_labels(corpus, label),
        *_from_role_definitions(corpus, roles),
    ]
    return corroborated(candidates, key=name_key)


def _opening_parties(corpus: Corpus) -> list[list[Party]]:
    """The parties of each opening clause in order, parsed once for both roles."""
    if "opening_parties" not in corpus.memo:
        openings = corpus.finditer(_OPENING, _OPENING_WORDS, 0, _OPENING_WINDOW)
        corpus.memo["opening_parties"] = [
            list(_parse_opening(corpus.text, opening.end())) for opening in openings
        ]
    return cast("list[list[Party]]", corpus.memo["opening_parties"])


def _from_openings(corpus: Corpus, roles: frozenset[str]) -> Iterator[Found[str]]:
    for parties in _opening_parties(corpus):
        for party in parties:
            if party.role.lower() in roles:
                evidence = corpus.evidence(party.start, party.end)
                yield Found(party.name, SOURCE_CONFIDENCE[party.source], evidence)


def _from_labels(corpus: Corpus, label: str) -> Iterator[Found[str]]:
    for span in labelled(corpus, label, limit=300):
        name = clean_name(span.text(corpus))
        if plausible_name(name):
            confidence = SOURCE_CONFIDENCE[span.source]
            evidence = corpus.evidence(span.quote_start, span.start + len(name))
            yield Found(name, confidence, evidence)


_ROLE_DEFINITION = re.compile(
    r'"[A-Z][\w .-]{1,40}"\s+(?:means|shall mean)\s+(.{3,200}?),?\s+as\s+(?:the\s+)?'
    rf"({_ROLE_WORDS})\s+(?:under|hereunder|of|in)\b",
    re.I,
)


def _from_role_definitions(corpus: Corpus, roles: frozenset[str]) -> Iterator[Found[str]]:
    """``"District" means the District of Columbia, ..., as the tenant under this Lease``."""
    if "role_definitions" not in corpus.memo:
        corpus.memo["role_definitions"] = list(corpus.finditer(_ROLE_DEFINITION, ('"',)))
    for match in cast("list[re.Match[str]]", corpus.memo["role_definitions"]):
        name = clean_name(match.group(1))
        if match.group(2).lower() in roles and plausible_name(name):
            evidence = corpus.evidence(match.start(1), match.start(1) + len(name))
            yield Found(name, SOURCE_CONFIDENCE["definition"], evidence)


def _parse_opening(text: str, start: int) -> Iterator[Party]:
    """Parties between ``start`` and the end of the opening clause, in order."""
    stop = _opening_stop(text, start)
    position = start
    for marker in _role_markers(text, start, stop):
        chunk_start = position
        position = marker.end()
        for name, offset in _split_chunk(text[chunk_start : marker.start()]):
            if plausible_name(name):
                begin = chunk_start + offset
                yield Party(name, _role(marker), begin, marker.end(), _marker_source(marker))
        if _ends_sentence(text, marker.end()):
            return


def _opening_stop(text: str, start: int) -> int:
    limit = min(len(text), start + _BODY_LIMIT)
    ends = [_OPENING_END.search(text, start, limit), _OPENING.search(text, start, limit)]
    return min((end.start() for end in ends if end), default=limit)


def _role_markers(text: str, start: int, stop: int) -> list[re.Match[str]]:
    markers = [*_PAREN_ROLE.finditer(text, start, stop), *_AS_ROLE.finditer(text, start, stop)]
    markers = [marker for marker in markers if not _NOT_A_PARTY.search(_role(marker))]
    markers.sort(key=lambda marker: marker.start())
    kept: list[re.Match[str]] = []
    for marker in markers:
        if not kept or marker.start() >= kept[-1].end():
            kept.append(marker)
    return kept


def _role(marker: re.Match[str]) -> str:
    """The role a marker gives: a landlord/tenant word among its quoted names if there is
    one ("(“Acme,” “Landlord,” or “Lessor”)"), else its first quoted name."""
    group: str = next(group for group in marker.groups() if group)
    quoted = [str(q).strip(" ,") for q in _QUOTED.findall(group)] or [group.strip()]
    roles = [q for q in quoted if q.lower() in LANDLORD_ROLES | TENANT_ROLES]
    return roles[0] if roles else quoted[0]


def _marker_source(marker: re.Match[str]) -> Source:
    # A quoted role in parentheses is the party's definition; "X, as Landlord" is the
    # style of cover pages.
    return "definition" if marker.group().lstrip().startswith("(") else "cover"


def _split_chunk(chunk: str) -> Iterator[tuple[str, int]]:
    """One or two names from the text before a role marker.

    "X, a Florida corporation, and Y" names two parties (the first had no marker of
    its own); "X, a New Jersey limited liability company and Y, ..., as Tenants in
    Common" is one party made of two entities.
    """
    begin = 0
    for joint in _JOINT.finditer(chunk):
        part = chunk[begin : joint.start(1)]
        yield clean_name(part), begin + _leading_length(part)
        begin = joint.end(1)
    part = chunk[begin:]
    yield clean_name(part), begin + _leading_length(part)


def _leading_length(text: str) -> int:
    match = _LEADING.match(text)
    return match.end() if match else 0


def _ends_sentence(text: str, position: int) -> bool:
    following = text[position : position + 3]
    return following.startswith((".", ";")) and not following.startswith("..")

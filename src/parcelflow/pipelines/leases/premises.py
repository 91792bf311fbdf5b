"""Where the premises are and how big: street address (with suite) and rentable area.

A lease mentions many addresses (notice addresses, the landlord's office, the
broker's) and many areas (the building, the project, each floor). Only an address or an
area whose own sentence ties it to the premises or the building that holds them is
taken: "Building: 1825 South Grant Street ...", "commonly known as ...", "containing
approximately 30,085 square feet of Rentable Area ... (the "Premises")".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from heapq import merge
from typing import cast

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.fields import Found, corroborated
from parcelflow.pipelines.leases.spans import (
    SOURCE_CONFIDENCE,
    Source,
    sentence_start,
    summary_region,
)

__all__ = ["ADDRESS_PATTERN", "find_premises_address", "find_rentable_area", "state_of"]

_STATES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    "Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    "New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    "Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming|District of Columbia|Puerto Rico"
)
_STATE_CODES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|"
    "NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|D\\.C\\.|PR"
)
_NUMBER = (
    r"(?:\d{1,6}(?:-\d{1,6})?[A-Z]?|One|Two|Three|Four|Five|Six|Seven|Eight|Nine|Ten|Eleven|Twelve)"
)
_DIRECTION = (
    r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)"
)
_SUFFIX_WORDS = [
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Boulevard",
    "Blvd",
    "Road",
    "Rd",
    "Drive",
    "Dr",
    "Lane",
    "Ln",
    "Way",
    "Parkway",
    "Pkwy",
    "Place",
    "Pl",
    "Court",
    "Ct",
    "Circle",
    "Cir",
    "Plaza",
    "Square",
    "Sq",
    "Terrace",
    "Trail",
    "Turnpike",
    "Pike",
    "Center",
    "Centre",
    "Row",
    "Loop",
    "Expressway",
    "Freeway",
    "Wharf",
    "Pier",
    "Mall",
]
# Title case or capitals only: "16,541 square feet" must not read as "541 Square".
_SUFFIX = "(?:" + "|".join([*_SUFFIX_WORDS, *(w.upper() for w in _SUFFIX_WORDS)]) + ")"
_NAME_WORD = r"(?:[A-Z][\w'.-]*|\d+(?:st|nd|rd|th))"
_STREET = (
    rf"(?<![\w,.$]){_NUMBER}\s+(?:{_DIRECTION}\.?\s+)?(?:{_NAME_WORD}\s+){{0,4}}?{_SUFFIX}\b\.?"
    rf"|(?<![\w,.$]){_NUMBER}\s+(?i:Highway|Hwy|Route|Rte|State Road|County Road)\.?\s+\d+[A-Z]?"
)
_UNIT = r"(?i:Suite|Ste|Unit|Building|Bldg|Floor)\.?\s+(?:No\.?\s+)?[A-Z0-9][\w-]*"
ADDRESS_PATTERN = (
    rf"(?:{_STREET})(?:\s+{_DIRECTION}\b\.?)?(?:,?\s+{_UNIT})*"
    rf"(?:,?\s+(?:[A-Z][A-Za-z.'-]+\s+){{0,2}}[A-Z][A-Za-z.'-]+,?\s+(?:{_STATES}|{_STATE_CODES})\b"
    rf"(?:,?\s+\d{{5}}(?:-\d{{4}})?)?)?"
)
"""A US street address: number, street, optional unit, optional "City, State ZIP"."""

_ADDRESS = re.compile(ADDRESS_PATTERN)
# Where an address or an area can start: the first digit of a number, or a number word.
# Trying the patterns only there gives their matches several times faster than letting
# ``re`` try each character (see Corpus.match_at).
_NUMBER_START = re.compile(r"\d(?<!\d\d)")
# No number word starts inside another (each is one capital, then lower case), so the
# matches of the alternation are every place one starts.
_NUMBER_WORD = re.compile("One|Two|Three|Four|Five|Six|Seven|Eight|Nine|Ten|Eleven|Twelve")
_STATE_AT_END = re.compile(
    rf"(?<!\w)({_STATES}|{_STATE_CODES})(?!\w)(?:,?\s+\d{{5}}(?:-\d{{4}})?)?\W*$"
)
_NAMES = [
    "Alabama",
    "Alaska",
    "Arizona",
    "Arkansas",
    "California",
    "Colorado",
    "Connecticut",
    "Delaware",
    "Florida",
    "Georgia",
    "Hawaii",
    "Idaho",
    "Illinois",
    "Indiana",
    "Iowa",
    "Kansas",
    "Kentucky",
    "Louisiana",
    "Maine",
    "Maryland",
    "Massachusetts",
    "Michigan",
    "Minnesota",
    "Mississippi",
    "Missouri",
    "Montana",
    "Nebraska",
    "Nevada",
    "New Hampshire",
    "New Jersey",
    "New Mexico",
    "New York",
    "North Carolina",
    "North Dakota",
    "Ohio",
    "Oklahoma",
    "Oregon",
    "Pennsylvania",
    "Rhode Island",
    "South Carolina",
    "South Dakota",
    "Tennessee",
    "Texas",
    "Utah",
    "Vermont",
    "Virginia",
    "Washington",
    "West Virginia",
    "Wisconsin",
    "Wyoming",
    "District of Columbia",
    "District of Columbia",
    "Puerto Rico",
]
_CODES = [code.replace("\\", "").replace(".", "") for code in _STATE_CODES.split("|")]
_CODE_NAMES = dict(zip(_CODES, _NAMES, strict=True))

_PREMISES_CUE = re.compile(
    r"\bbuilding\s*(?:address)?[^.:]{0,60}:|\bpremises\b|commonly known as|having an address of"
    r"|street address|located at|property address|\bsituated at|\bknown as\b",
    re.I,
)
_GENERIC_CUE = re.compile(r"located at|situated at|known as", re.I)
_PARTY_NOUN = re.compile(r"\b(?:landlord|tenant|lessor|lessee|sublandlord|subtenant)\b", re.I)
_PLACE_NOUN = re.compile(r"\b(?:premises|building|property|space|suite|land)\b", re.I)
_OTHER_CUE = re.compile(
    r"notice|address of (?:landlord|tenant)|(?:landlord|tenant)'s address|attention|attn\b|c/o\b"
    r"|copy to|payment|remit|principal (?:office|place)|offices at|place of business|wire",
    re.I,
)
# "Suite 725", "Suite A", "Suite No. 100, 400, and 500" (a list ends with "and").
_SUITE = re.compile(
    r"\b(?:Suite|Ste\.?)\s+(?:No\.?\s+)?[A-Z0-9][\w-]*(?:(?:,\s*\d[\w-]*)*,?\s+and\s+\d[\w-]*)?"
)
_SUITE_CUE = re.compile(r"premises\W{0,3}:?|known as|located in|consisting of", re.I)
_CUE_WINDOW = 160
_SUITE_WINDOW = 900
_QUOTE_REACH = 250

_AREA_UNIT = (
    r"(?:rentable\s+square\s+(?:feet|foot|footage)|square\s+feet\s+of\s+(?:rentable|leasable)"
    r"\s+(?:area|space)|rentable\s+sq(?:uare)?\.?\s*f(?:ee)?t\.?|r\.?s\.?f\.?\b|RSF\b)"
)
_AREA = re.compile(
    rf"(?<![\d$.,])(\d{{1,3}}(?:,\d{{3}})+|\d{{3,7}})(?:\.\d+)?\s+(?:net\s+|gross\s+)?{_AREA_UNIT}",
    re.I,
)
_NOT_THE_AREA = re.compile(r"(?:\bper|\bevery|\beach|\bfor\s+each)\s+$", re.I)
_PREMISES_NOUN = re.compile(r"\bpremises\b|\bspace\b|\bsuites?\b|rentable area\b\W{0,3}:", re.I)
_OTHER_NOUN = re.compile(
    r"\bbuilding\b|\bproject\b|\bproperty\b|\bpark\b|\bcenter\b|\bfloor\b", re.I
)
_DEFINES = re.compile(
    r'\((?:the|collectively,? the)?\s*"(?:[\w ]{0,20})?'
    r'(?:premises|building|project|property|park)"\)',
    re.I,
)
_DEFINES_OTHER = re.compile(r'\((?:the\s+)?"(?:building|project|property|park)"\)', re.I)
_ANY_NOUN = re.compile(r"\b(?:premises|building|project|property|park)\b", re.I)


@dataclass(frozen=True, slots=True)
class _Area:
    value: float
    start: int
    end: int
    verdict: str  # "premises" / "other" / "unknown"


def find_premises_address(corpus: Corpus) -> Found[str] | None:
    """The premises' street address, with the suite when the lease names one."""
    region = summary_region(corpus)
    candidates: list[Found[str]] = []
    for match in corpus.match_at(_ADDRESS, _address_starts(corpus)):
        cue = _premises_cue(corpus.text, match.start())
        if cue is not None and _has_street_line(match.group()):
            candidates.append(_with_suite(corpus, match, cue, _source(match.start(), region)))
    ordered = sorted(candidates, key=lambda found: -found.confidence)
    return corroborated(ordered, key=_street_key) if ordered else None


def find_rentable_area(corpus: Corpus) -> Found[float] | None:
    """Rentable square feet of the premises (never the building's or a floor's)."""
    region = summary_region(corpus)
    candidates = [
        Found(
            area.value, _area_confidence(area, region), corpus.evidence(*_area_quote(corpus, area))
        )
        for area in _areas(corpus)
        if area.verdict == "premises"
    ]
    return corroborated(candidates)


def state_of(address: str) -> str | None:
    """The state named at the end of a US address, as a full name."""
    match = _STATE_AT_END.search(address)
    if match is None:
        return None
    token = match.group(1)
    code = token.replace(".", "").upper()
    return _CODE_NAMES.get(code, token if len(token) > 2 else None)


def _source(position: int, region: tuple[int, int] | None) -> Source:
    inside = region is not None and region[0] <= position < region[1]
    return "summary" if inside else "label"


def _premises_cue(text: str, position: int) -> int | None:
    """Start of the words just before an address that tie it to the premises, if any."""
    floor = max(0, position - _CUE_WINDOW)
    window = text[floor:position]
    cues = list(_PREMISES_CUE.finditer(window))
    cue = cues[-1] if cues else None
    if cue is None or _OTHER_CUE.search(window, cue.end()):
        return None
    if _OTHER_CUE.search(window[max(0, cue.start() - 40) : cue.start()]):
        return None
    if _GENERIC_CUE.fullmatch(cue.group()) and _party_address(window[: cue.start()]):
        return None
    return floor + cue.start()


def _party_address(before: str) -> bool:
    """ "Tenant, located at ..." is where a party is, not the premises."""
    recent = before[-100:]
    return bool(_PARTY_NOUN.search(recent)) and not _PLACE_NOUN.search(recent)


def _has_street_line(address: str) -> bool:
    # "Two Seaport Lane" needs a city to be trusted; "1825 South Grant Street" does not.
    return address[0].isdigit() or "," in address


def _with_suite(corpus: Corpus, match: re.Match[str], cue: int, source: Source) -> Found[str]:
    address = match.group().rstrip(" ,.")
    if address.endswith((" St", " Ave", " Rd", " Dr", " Blvd", " S", " N", " E", " W")):
        address += "."
    start, end = cue, match.end()
    suite = None if _SUITE.search(address) else _nearby_suite(corpus.text, match.start())
    if suite is not None:
        address = f"{suite.group()}, {address}"
        if abs(suite.start() - match.start()) <= _QUOTE_REACH:
            start, end = min(start, suite.start()), max(end, suite.end())
    return Found(address, _address_confidence(address, source, suite), corpus.evidence(start, end))


def _address_confidence(address: str, source: Source, suite: re.Match[str] | None) -> float:
    # A full "City, State ZIP" line is the building's postal address; a bare street
    # line (a cover page's "PREMISES: 400 Alexander Road") is less certain.
    complete = 1.0 if re.search(r"\d{5}(?:-\d{4})?$", address) else 0.97
    numbered = 1.0 if address[0].isdigit() or suite is not None else 0.95
    return round(SOURCE_CONFIDENCE[source] * complete * numbered, 4)


def _nearby_suite(text: str, position: int) -> re.Match[str] | None:
    """The suite of the premises: named in the address's own sentence, or introduced as
    the premises ("Premises: Suite 725", "commonly known as Suite A"); never a suite of
    a notice or office address. The nearest such suite wins."""
    sentence = sentence_start(text, position, _SUITE_WINDOW)
    nearest: re.Match[str] | None = None
    for suite in _SUITE.finditer(text, max(0, position - _SUITE_WINDOW), position + 200):
        before = text[max(0, suite.start() - 120) : suite.start()]
        if _OTHER_CUE.search(before[-60:]):
            continue
        introduced = suite.start() >= sentence or _SUITE_CUE.search(before)
        closer = nearest is None or abs(suite.start() - position) < abs(nearest.start() - position)
        if introduced and closer:
            nearest = suite
    return nearest


def _street_key(address: str) -> str:
    line = address.split(",")
    return re.sub(r"\W+", " ", " ".join(line[:2]).lower()).strip()


def _number_starts(corpus: Corpus) -> list[int]:
    """Offsets of the first digit of every number in the text."""
    if "number_starts" not in corpus.memo:
        corpus.memo["number_starts"] = [m.start() for m in _NUMBER_START.finditer(corpus.text)]
    return cast("list[int]", corpus.memo["number_starts"])


def _address_starts(corpus: Corpus) -> list[int]:
    """Every offset where an address can start (a number or a number word)."""
    words = [match.start() for match in _NUMBER_WORD.finditer(corpus.text)]
    return list(merge(_number_starts(corpus), words))


def _areas(corpus: Corpus) -> Iterator[_Area]:
    text = corpus.text
    # An area's figure cannot follow a digit: it starts a number.
    for match in corpus.match_at(_AREA, _number_starts(corpus)):
        before = text[max(0, match.start() - 25) : match.start()]
        if _NOT_THE_AREA.search(before):
            continue
        value = float(match.group(1).replace(",", ""))
        yield _Area(value, match.start(), match.end(), _area_verdict(text, match))


def _area_verdict(text: str, match: re.Match[str]) -> str:
    """premises / other / unknown, from the sentence the area sits in.

    A defining parenthesis right after the area ("... 30,085 square feet ... (the
    "Premises")") names what the area measures, unless another noun comes first ("...
    on the second floor of the building known as B300 (the "Building")").
    """
    after = text[match.end() : match.end() + 200]
    for definition in _DEFINES.finditer(after):
        between = after[: definition.start()]
        if "." in between or _ANY_NOUN.search(between):
            break
        return "other" if _DEFINES_OTHER.match(definition.group()) else "premises"
    return _nearest_noun(text, match.start())


def _nearest_noun(text: str, position: int) -> str:
    window_start = max(sentence_start(text, position, 140), position - 140)
    window = text[window_start:position]
    premises = [m.end() for m in _PREMISES_NOUN.finditer(window)]
    other = [m.end() for m in _OTHER_NOUN.finditer(window)]
    if not premises and not other:
        return "unknown"
    return "premises" if max(premises, default=-1) > max(other, default=-1) else "other"


def _area_confidence(area: _Area, region: tuple[int, int] | None) -> float:
    return SOURCE_CONFIDENCE[_source(area.start, region)]


def _area_quote(corpus: Corpus, area: _Area) -> tuple[int, int]:
    start = max(sentence_start(corpus.text, area.start, 160), area.start - 160)
    return start, area.end

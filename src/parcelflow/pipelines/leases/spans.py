"""Where a lease states things: the summary block, labelled items, defined terms, clauses.

Commercial leases put their business terms in a "Basic Lease Information" (or
"Summary of Basic Lease Information", "Basic Lease Provisions", "Reference Data")
block up front, as ``Label: value`` items; then define terms (``"Commencement Date"
shall mean ...``); then repeat or qualify them in clauses. Rules therefore ask for a
labelled value first and fall back to clauses, and every span knows which kind of
place it came from so confidence can reflect it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, cast

from parcelflow.pipelines.leases.corpus import Corpus

__all__ = [
    "SOURCE_CONFIDENCE",
    "Source",
    "Span",
    "clause_end",
    "labelled",
    "preceding_word",
    "sentence_start",
    "summary_region",
]

Source = Literal["summary", "definition", "label", "clause", "cover"]

SOURCE_CONFIDENCE: dict[Source, float] = {
    "summary": 0.95,
    "definition": 0.9,
    "label": 0.85,
    "clause": 0.8,
    "cover": 0.75,
}
"""How much a value is trusted by the kind of place it was read from: the summary block
is what the parties negotiate and check; a loose clause may be about something else."""

_SUMMARY_HEADING = re.compile(
    r"basic lease (?:information|provisions|terms|data)|summary of (?:basic )?(?:lease )?"
    r"(?:terms|information|provisions)|lease summary|reference data|subject referred to"
    r"|fundamental lease provisions|basic provisions|schedule of basic terms|key lease terms",
    re.IGNORECASE,
)
# Words every heading above begins with (see Corpus.finditer).
_SUMMARY_OPENINGS = (
    "basic lease",
    "summary of",
    "lease summary",
    "reference data",
    "subject referred",
    "fundamental lease",
    "basic provisions",
    "schedule of basic",
    "key lease",
)
_SUMMARY_SPAN = 12_000
"""Characters after the heading searched as the summary (BDDC-style blocks run ~9,000)."""

_ITEM_SIGNS = re.compile(r"\$\s?\d|:\s|(?:19|20)\d\d\b")

# Words ending in "." that do not end a sentence (entity suffixes, street abbreviations,
# initials). Checked procedurally because Python's look-behind needs a fixed width.
_ABBREVIATIONS = frozenset(
    [
        "inc",
        "co",
        "corp",
        "ltd",
        "llc",
        "l.l.c",
        "no",
        "nos",
        "st",
        "ave",
        "blvd",
        "rd",
        "dr",
        "ste",
        "mr",
        "ms",
        "mrs",
        "jr",
        "sr",
        "hwy",
        "bldg",
        "mt",
        "ft",
        "vs",
        "etc",
        "approx",
        "sec",
        "secs",
        "art",
        "arts",
        "para",
        "p.m",
        "a.m",
        "u.s",
        "n.w",
        "n.e",
        "s.w",
        "s.e",
        "e.g",
        "i.e",
        "cf",
        "fig",
        "pl",
        "ct",
        "ln",
        "pkwy",
        "sq",
        "hon",
        "esq",
        "lp",
        "l.p",
        "n.a",
    ]
)
_WORD_BEFORE_LABEL = re.compile(r"([\w']+)(\W{0,3})$")
_LINKING_WORDS = frozenset(
    [
        "of",
        "to",
        "for",
        "by",
        "from",
        "and",
        "or",
        "the",
        "a",
        "an",
        "with",
        "under",
        "this",
        "such",
        "said",
        "any",
        "each",
        "its",
        "their",
    ]
)
_NEXT_LABEL = re.compile(
    r"\s(?:\(?[a-z0-9]{1,3}[.)]\s+)?[A-Z][\w'-]*(?:\s+(?:[A-Z][\w'-]*|of|the|and|for|to|in)){0,6}"
    r"\s*(?:\([^)]{0,30}\)\s*)?:\s"
)
_STOP = re.compile(r"[.;]\s|[.;]$")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_PRECEDING = re.compile(r"([\w'.]+)\W*$")
_LETTER_NAME = re.compile(
    r"\b(?:exhibit|schedule|appendix|annex|rider|section|article|suite|unit|building|phase|"
    r"lot|block|parcel|floor|space|area)\s+\w$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Span:
    """A value's span in the corpus and the kind of place it was found in."""

    start: int
    end: int
    source: Source
    label_start: int = -1

    @property
    def quote_start(self) -> int:
        """Where evidence for this value should start (its label, when it has one)."""
        return self.label_start if self.label_start >= 0 else self.start

    def text(self, corpus: Corpus) -> str:
        """The normalised text of the span."""
        return corpus.text[self.start : self.end]


def clause_end(text: str, start: int, limit: int = 400, *, through_semicolons: bool = False) -> int:
    """End of the sentence or list item that starts at ``start`` (at most ``limit`` on).

    A period after an abbreviation ("Inc.", "St.", an initial) does not end it; with
    ``through_semicolons`` a semicolon does not either (enumerations: "excluding: (i)
    ...; (ii) ...").
    """
    stop = min(len(text), start + limit)
    for match in _STOP.finditer(text, start, stop):
        if match.group()[0] == ";":
            if not through_semicolons:
                return match.start()
        elif not _is_abbreviation(text, match.start()):
            return match.start()
    return stop


def sentence_start(text: str, position: int, limit: int = 600) -> int:
    """Start of the sentence holding ``position`` (at most ``limit`` back)."""
    floor = max(0, position - limit)
    best = floor
    for match in _STOP.finditer(text, floor, position):
        if match.group()[0] == ";" or not _is_abbreviation(text, match.start()):
            best = match.end()
    return best


def summary_region(corpus: Corpus) -> tuple[int, int] | None:
    """The span of the basic-lease-information block, if the lease has one.

    Tables of contents name the block too; the heading followed by the most
    ``Label: value`` signs (colons, amounts, years) is the block itself.
    """
    if "summary" not in corpus.memo:
        corpus.memo["summary"] = _find_summary(corpus)
    return cast("tuple[int, int] | None", corpus.memo["summary"])


def _find_summary(corpus: Corpus) -> tuple[int, int] | None:
    text = corpus.text
    best: tuple[int, int] | None = None
    best_score = 0
    for heading in corpus.finditer(_SUMMARY_HEADING, _SUMMARY_OPENINGS):
        window = text[heading.start() : heading.start() + 3000]
        score = len(_ITEM_SIGNS.findall(window))
        if score > best_score:
            best, best_score = (heading.start(), heading.start() + _SUMMARY_SPAN), score
    return best if best_score >= 5 else None


def labelled(
    corpus: Corpus,
    label: str,
    *,
    limit: int = 400,
    through_semicolons: bool = False,
    not_after: frozenset[str] = frozenset(),
) -> list[Span]:
    """Values given for ``label`` (a regex) as ``Label: value`` or as a defined term.

    Recognised shapes: ``Security Deposit: $41,366.39``, ``Security Deposit (Article
    21): ...``, ``"Permitted Use" shall be ...``, ``"Landlord" means ...``,
    ``(l) "Security Deposit": Not applicable``. Values run to the end of their sentence.
    """
    key = f"labelled:{label}:{limit}:{through_semicolons}:{sorted(not_after)}"
    if key not in corpus.memo:
        corpus.memo[key] = list(_find_labelled(corpus, label, limit, through_semicolons, not_after))
    return cast("list[Span]", corpus.memo[key])


def preceding_word(text: str, position: int) -> str:
    """The word just before ``position`` (lower case; "" at the start)."""
    match = _PRECEDING.search(text, max(0, position - 30), position)
    return match.group(1).lower().strip(".'") if match else ""


def _find_labelled(
    corpus: Corpus, label: str, limit: int, through_semicolons: bool, not_after: frozenset[str]
) -> Iterator[Span]:
    region = summary_region(corpus)
    for label_start, label_end in _label_matches(corpus, label):
        if not_after and preceding_word(corpus.text, label_start) in not_after:
            continue
        start = _skip_space(corpus.text, label_end)
        end = clause_end(corpus.text, start, limit, through_semicolons=through_semicolons)
        end = _before_next_label(corpus.text, start, end)
        if end > start:
            yield Span(start, end, _source_of(corpus.text, label_start, region), label_start)


def _label_matches(corpus: Corpus, label: str) -> list[tuple[int, int]]:
    """Where ``label`` starts an item, scanned once per corpus (scans are the cost)."""
    key = f"label:{label}"
    if key not in corpus.memo:
        pattern = _label_pattern(label)
        candidates = _label_candidates(corpus, label)
        matches = (
            pattern.finditer(corpus.text)
            if candidates is None
            else corpus.match_at(pattern, candidates)
        )
        corpus.memo[key] = [
            match.span() for match in matches if _starts_item(corpus.text, match.start())
        ]
    return cast("list[tuple[int, int]]", corpus.memo[key])


# A label is a defined term (``"Label" means``) or an item (``Label (Section 4):``).
_DEFINED_TERM = (
    r'"(?:{label})"\s*(?:,?\s*as\s+used\s+(?:herein|in\s+this\s+lease),?\s*)?'
    r"(?::|means\b|shall\s+mean\b|shall\s+be\b|is\b)"
)
_ITEM = r"\b(?:{label})\s*(?:\((?:Article|Section|Sections|Exhibit|Paragraph|§)[^)]{{0,30}}\)\s*)?:"
_ITEM_TAIL_REACH = 42
"""Most characters an item's tail takes besides its spaces: "(Paragraph" + 30 + "):"."""
_UNBOUNDED = re.compile(r"[*+]|\{\d*,\}|\)\{|\\\d|\(\?P=")
_REPEAT_LIMIT = re.compile(r"\{(?:\d*,)?(\d+)\}")


def _label_pattern(label: str) -> re.Pattern[str]:
    return re.compile(
        f"{_DEFINED_TERM.format(label=label)}|{_ITEM.format(label=label)}", re.IGNORECASE
    )


def _label_candidates(corpus: Corpus, label: str) -> list[int] | None:
    """Every offset where ``label``'s pattern can match (``None``: try everywhere).

    A defined term starts at a double quote; an item ends at a colon no more than its
    longest possible match before it. Leases have a few hundred of each, so trying the
    pattern there (the item pattern in a short window before each colon) instead of at
    each of 300,000 characters gives the same matches in a fraction of the time.
    """
    reach = _label_reach(label)
    quotes = corpus.positions('"', ignore_case=False)
    colons = corpus.positions(":", ignore_case=False)
    if reach is None or quotes is None or colons is None:
        return None
    width = reach + _ITEM_TAIL_REACH + 2 * _longest_space_run(corpus)
    item = re.compile(f"(?={_ITEM.format(label=label)})", re.IGNORECASE)
    starts = set(quotes)
    for window_start, window_end in _windows_before(colons, width):
        starts.update(
            match.start() for match in item.finditer(corpus.text, window_start, window_end)
        )
    return sorted(starts)


def _label_reach(label: str) -> int | None:
    """An upper bound of how many characters ``label`` (a regex) can match.

    Each atom (a character, an escape, a class) matches one character, so the pattern's
    own length bounds it, plus the counts of bounded repeats (``[^:]{0,40}``); ``None``
    for anything this cannot bound (``*``, ``+``, ``{n,}``, a repeated group, a
    back-reference).
    """
    if _UNBOUNDED.search(label):
        return None
    return len(label) + sum(int(limit) for limit in _REPEAT_LIMIT.findall(label))


def _longest_space_run(corpus: Corpus) -> int:
    """Longest run of spaces in the text: one, plus one for each empty page in a row."""
    longest = run = 0
    for view in corpus.views:
        run = 0 if view.text else run + 1
        longest = max(longest, run)
    return longest + 1


def _windows_before(colons: list[int], width: int) -> Iterator[tuple[int, int]]:
    """Merged ranges holding every start of an item that ends at one of ``colons``."""
    window: tuple[int, int] | None = None
    for colon in colons:
        start, end = max(0, colon + 1 - width), colon + 1
        if window is not None and start <= window[1]:
            window = (window[0], end)
            continue
        if window is not None:
            yield window
        window = (start, end)
    if window is not None:
        yield window


def _source_of(text: str, position: int, region: tuple[int, int] | None) -> Source:
    if region is not None and region[0] <= position < region[1]:
        return "summary"
    return "definition" if text.startswith('"', position) else "label"


def _before_next_label(text: str, start: int, end: int) -> int:
    """Summary items often lack periods ("... no other purpose Brokers: ..."): a value
    also ends where the next ``Label:`` begins."""
    following = _NEXT_LABEL.search(text, start + 1, end)
    return following.start() if following else end


def _starts_item(text: str, position: int) -> bool:
    """Whether a label at ``position`` begins an item ("Landlord:"), rather than ending
    a phrase ("Address of Landlord:", "Tenant's Landlord:")."""
    before = _WORD_BEFORE_LABEL.search(text, max(0, position - 20), position)
    if before is None:
        return True
    word, gap = before.groups()
    if any(mark in gap for mark in ").:;"):
        return True  # "(a) Label:", "2.2 Label:", "... building. Label:"
    return word.lower() not in _LINKING_WORDS and not word.endswith("'s")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] == " ":
        position += 1
    return position


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    if word is None:
        return False
    token = word.group(1).lower()
    if len(token) == 1:
        # "N. Halsted" is an initial; "Exhibit B." ends a sentence.
        return _LETTER_NAME.search(text, max(0, dot - 14), dot) is None
    return token in _ABBREVIATIONS

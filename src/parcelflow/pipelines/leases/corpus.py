"""A document's text as one searchable string, with a way back to exact page snippets.

Rules search a *normalised* view of the text: runs of whitespace collapsed to one
space, typographic quotes and dashes folded to ASCII. Real leases reach us with hard
line breaks inside sentences (EDGAR text), with curly quotes from Word, and with
whatever line layout PDF text extraction invents, so patterns written against the
normalised view work the same for every engine. Evidence, however, must quote the page
*exactly*: :meth:`Corpus.evidence` maps a normalised span back to the original
characters of the page it starts on.

Speed: a 100-page lease is ~300,000 characters, and Python's ``re`` tries a
case-insensitive pattern that opens with ``\\b`` or an alternation at every one of
them. :meth:`Corpus.finditer` gives the same matches as ``pattern.finditer`` while
trying the pattern only where one of its opening words occurs (found with ``str.find``
in a lower-case copy made once), which is what makes a rule cost microseconds instead
of milliseconds.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from heapq import merge

from parcelflow.documents.model import Document
from parcelflow.pipelines.leases.model import Evidence

__all__ = ["Corpus", "PageView"]

# One-to-one folds only: the offset map below relies on len(folded) == len(original).
_FOLD = {
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u00a0": " ",
    "\u200b": " ",
    "\ufeff": " ",
    "\ufffe": "-",
}
_FOLDABLE = re.compile("[" + "".join(_FOLD) + "]")
_TOKEN = re.compile(r"\S+")
_SPACE = re.compile(" ")
# Characters that ``re.IGNORECASE`` matches to an ASCII letter although ``str.lower``
# does not map them to it (or changes the string's length): with one of them in the
# text, the lower-case copy cannot stand in for case-insensitive matching.
_UNFOLDABLE_CASE = ("\u0130", "\u0131", "\u017f", "\u212a")


def _find_all(haystack: str, needle: str) -> list[int]:
    found: list[int] = []
    at = haystack.find(needle)
    while at >= 0:
        found.append(at)
        at = haystack.find(needle, at + 1)
    return found


def _fold(text: str) -> str:
    """``text`` with typographic quotes, dashes and odd spaces replaced by ASCII.

    ``str.replace`` per character present is much faster than ``str.translate`` with
    a table, and gives the same result because no replacement is itself replaced.
    """
    for char in set(_FOLDABLE.findall(text)):
        text = text.replace(char, _FOLD[char])
    return text


@dataclass(frozen=True, slots=True)
class PageView:
    """One page's normalised text, and the way back to the original.

    Attributes:
        number: 1-based page number.
        original: the page text exactly as read.
        text: normalised text (tokens joined by single spaces).
    """

    number: int
    original: str
    text: str
    # Where each token starts in ``original``, found on the first evidence quoted from
    # this page: most pages of a long lease are never quoted, and mapping every token
    # of every page used to be half the cost of normalising.
    _token_starts: list[list[int]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    @classmethod
    def build(cls, number: int, original: str) -> PageView:
        """Normalise ``original``."""
        # str.split() and the \S+ tokens of re agree on what whitespace is.
        return cls(number, original, " ".join(_fold(original).split()))

    @property
    def norm_starts(self) -> tuple[int, ...]:
        """Start of each token in ``text``."""
        if not self.text:
            return ()
        return (0, *(match.end() for match in _SPACE.finditer(self.text)))

    @property
    def orig_starts(self) -> tuple[int, ...]:
        """Start of the same token in ``original``."""
        return tuple(self._original_starts())

    def to_original(self, position: int) -> int:
        """Original offset of normalised ``position`` (a separator maps past its token)."""
        starts = self._original_starts()
        if position < 0 or not starts:
            return 0
        # Tokens are joined by single spaces: the spaces before ``position`` number the
        # token it falls in (or follows), and the last of them is where that token starts.
        index = self.text.count(" ", 0, position)
        token_start = self.text.rfind(" ", 0, position) + 1
        return starts[index] + (position - token_start)

    def _original_starts(self) -> list[int]:
        if not self._token_starts:
            folded = _fold(self.original)
            self._token_starts.append([match.start() for match in _TOKEN.finditer(folded)])
        return self._token_starts[0]


class Corpus:
    """All pages of a document, normalised and joined by single spaces."""

    def __init__(self, document: Document) -> None:
        """Normalise every page of ``document``."""
        self.views = tuple(PageView.build(page.number, page.text) for page in document.pages)
        starts: list[int] = []
        position = 0
        for view in self.views:
            starts.append(position)
            position += len(view.text) + 1
        self.page_starts = tuple(starts)
        self.text = " ".join(view.text for view in self.views)
        # Results of whole-document searches several rules need (the summary block).
        self.memo: dict[str, object] = {}
        self._lowered: str | None = None
        self._foldable = not any(char in self.text for char in _UNFOLDABLE_CASE)
        self._positions: dict[str, list[int]] = {}

    @classmethod
    def from_text(cls, text: str) -> Corpus:
        """A one-page corpus (handy for tests and plain strings)."""
        from parcelflow.documents.model import Page

        return cls(Document((Page(1, text, "text"),), "text"))

    @property
    def word_count(self) -> int:
        """Number of whitespace-separated words (``len(text.split())``)."""
        if "words" not in self.memo:
            self.memo["words"] = sum(view.text.count(" ") + 1 for view in self.views if view.text)
        count = self.memo["words"]
        assert isinstance(count, int)
        return count

    def page_index(self, position: int) -> int:
        """0-based index of the page holding normalised ``position``."""
        return max(0, bisect_right(self.page_starts, position) - 1)

    def evidence(self, start: int, end: int, *, derived: bool = False) -> Evidence:
        """The exact page snippet behind normalised span ``[start, end)``.

        A span that runs over a page break is cut at the end of its first page, so
        the snippet is always a substring of one page's text.
        """
        index = self.page_index(start)
        view = self.views[index]
        offset = self.page_starts[index]
        local_start = max(0, start - offset)
        local_end = max(local_start + 1, min(end - offset, len(view.text)))
        first = view.to_original(local_start)
        last = view.to_original(local_end - 1) + 1
        snippet = view.original[first:last].strip()
        return Evidence(page=view.number, text=snippet, derived=derived)

    # -- fast searching -------------------------------------------------------------

    def positions(self, needle: str, *, ignore_case: bool = True) -> list[int] | None:
        """Every offset where ``needle`` occurs (overlaps included), in order.

        With ``ignore_case`` (``needle`` in lower case) the offsets are those of a
        case-insensitive search; ``None`` when this text cannot be searched that way
        (see :data:`_UNFOLDABLE_CASE`).
        """
        key = f"{ignore_case:d}{needle}"
        found = self._positions.get(key)
        if found is None:
            haystack = self._lower() if ignore_case else self.text
            if haystack is None:
                return None
            found = self._positions[key] = _find_all(haystack, needle)
        return found

    def finditer(
        self,
        pattern: re.Pattern[str],
        openings: Iterable[str],
        start: int = 0,
        end: int | None = None,
    ) -> Iterator[re.Match[str]]:
        """Exactly ``pattern.finditer(self.text, start, end)``, only faster.

        Args:
            pattern: a pattern that never matches the empty string.
            openings: lower-case words such that every match of ``pattern`` begins
                with one of them (ignoring case). The pattern is tried only there.
            start: as ``pos`` of ``finditer``.
            end: as ``endpos`` of ``finditer``.
        """
        stop = len(self.text) if end is None else min(end, len(self.text))
        candidates = self._candidates(openings, start, stop)
        if candidates is None:
            yield from pattern.finditer(self.text, start, stop)
            return
        yield from self.match_at(pattern, candidates, stop)

    def search(
        self,
        pattern: re.Pattern[str],
        openings: Iterable[str],
        start: int = 0,
        end: int | None = None,
    ) -> re.Match[str] | None:
        """Exactly ``pattern.search(self.text, start, end)`` (see :meth:`finditer`)."""
        return next(self.finditer(pattern, openings, start, end), None)

    def match_at(
        self, pattern: re.Pattern[str], candidates: Iterable[int], end: int | None = None
    ) -> Iterator[re.Match[str]]:
        """Leftmost non-overlapping matches of ``pattern`` starting at ``candidates``.

        This is how ``finditer`` walks the text: when ``candidates`` (ascending) holds
        every offset where ``pattern`` can match, the result is the same.
        """
        stop = len(self.text) if end is None else end
        resume = 0
        for position in candidates:
            if position < resume:
                continue
            match = pattern.match(self.text, position, stop)
            if match is not None:
                resume = match.end()
                yield match

    def _candidates(self, openings: Iterable[str], start: int, end: int) -> list[int] | None:
        lists: list[list[int]] = []
        for opening in openings:
            found = self.positions(opening)
            if found is None:
                return None
            lists.append(found[bisect_left(found, start) : bisect_left(found, end)])
        if len(lists) == 1:
            return lists[0]
        return sorted(set(merge(*lists)))

    def _lower(self) -> str | None:
        if self._lowered is None and self._foldable:
            self._lowered = self.text.lower()
        return self._lowered

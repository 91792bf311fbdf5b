"""A document's text as one searchable string, with a way back to exact page snippets.

Rules search a *normalised* view of the text: runs of whitespace collapsed to one
space, typographic quotes and dashes folded to ASCII. Real leases reach us with hard
line breaks inside sentences (EDGAR text), with curly quotes from Word, and with
whatever line layout PDF text extraction invents, so patterns written against the
normalised view work the same for every engine. Evidence, however, must quote the page
*exactly*: :meth:`Corpus.evidence` maps a normalised span back to the original
characters of the page it starts on.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from parcelflow.documents.model import Document
from parcelflow.pipelines.leases.model import Evidence

__all__ = ["Corpus", "PageView"]

# One-to-one folds only: the offset map below relies on len(folded) == len(original).
_FOLD = str.maketrans(
    {
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
)
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class PageView:
    """One page's normalised text and the offsets that map it back to the original.

    Attributes:
        number: 1-based page number.
        original: the page text exactly as read.
        text: normalised text (tokens joined by single spaces).
        norm_starts: start of each token in ``text``.
        orig_starts: start of the same token in ``original``.
    """

    number: int
    original: str
    text: str
    norm_starts: tuple[int, ...]
    orig_starts: tuple[int, ...]

    @classmethod
    def build(cls, number: int, original: str) -> PageView:
        """Normalise ``original`` and record where every token came from."""
        folded = original.translate(_FOLD)
        tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(folded)]
        norm_starts: list[int] = []
        position = 0
        for _, token in tokens:
            norm_starts.append(position)
            position += len(token) + 1
        text = " ".join(token for _, token in tokens)
        return cls(number, original, text, tuple(norm_starts), tuple(s for s, _ in tokens))

    def to_original(self, position: int) -> int:
        """Original offset of normalised ``position`` (a separator maps past its token)."""
        index = bisect_right(self.norm_starts, position) - 1
        if index < 0:
            return 0
        return self.orig_starts[index] + (position - self.norm_starts[index])


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

    @classmethod
    def from_text(cls, text: str) -> Corpus:
        """A one-page corpus (handy for tests and plain strings)."""
        from parcelflow.documents.model import Page

        return cls(Document((Page(1, text, "text"),), "text"))

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

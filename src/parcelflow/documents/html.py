"""HTML (SEC EDGAR exhibits) and plain text to page texts, with the standard library only.

HTML: ``script``/``style`` and similar are dropped, block elements end lines, table
cells are separated by a tab (rows stay one line each, as in the DOCX reader), ``pre``
keeps its spacing, and a CSS page break (EDGAR marks printed pages with
``page-break-before/after: always``) becomes a form feed, so pages stay recoverable.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["decode_text", "html_to_text", "split_pages"]

# Elements whose content is never document text.
_SKIPPED = frozenset({"script", "style", "title", "template", "noscript"})

# Elements that start and end a line (HTML Living Standard, "flow content" blocks).
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "center", "dd", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
        "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip

_CELLS = frozenset({"td", "th"})

# Void elements never get an end tag, so a break "after" them happens at the start tag.
_VOID = frozenset({"br", "hr", "img", "input", "wbr", "col", "area", "meta", "link"})

_PAGE_BREAK = re.compile(
    r"(?:page-)?break-(?P<where>before|after)\s*:\s*(?:always|page)", re.IGNORECASE
)
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")  # &nbsp; (U+00A0) is layout spacing in EDGAR
_AROUND_TABS = re.compile(r" *\t *")
_BLANK_RUNS = re.compile(r"\n{3,}")
_BOM = "\ufeff"


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (BOM stripped), else Windows-1252; ``\\n`` line ends.

    cp1252 is the fallback because EDGAR and office tools on Windows write it; its five
    undefined bytes become U+FFFD rather than an error.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.removeprefix(_BOM).replace("\r\n", "\n").replace("\r", "\n")


def html_to_text(markup: str) -> str:
    """The visible text of an HTML document, pages separated by form feeds."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return _tidy(parser.text())


def split_pages(text: str) -> list[str]:
    """Split on form feeds; blank pages (e.g. from a break at the very end) are dropped.

    Always returns at least one page.
    """
    pages = [page.strip("\n") for page in text.split("\f")]
    return [page for page in pages if page.strip()] or [""]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._breaks_after: list[str] = []  # open elements owing a page break at their end
        self._cells_in_row = 0
        self._in_cell = False
        self._at_break = True  # nothing but whitespace since the last line break

    def text(self) -> str:
        return "".join(self._parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skip_depth = 0  # an unclosed <title> or <script> must not swallow the body
        if tag in _SKIPPED:
            self._skip_depth += 1
            return
        self._page_break(tag, dict(attrs).get("style") or "")
        self._open_table_part(tag)
        if tag == "pre":
            self._pre_depth += 1
        if tag == "br":
            self._parts.append(" " if self._in_cell else "\n")
            self._at_break = True
        elif tag in _BLOCKS:
            self._line_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag in _CELLS or tag in ("tr", "table"):
            self._in_cell = False
        if tag in _BLOCKS:
            self._line_break()
        if self._breaks_after and self._breaks_after[-1] == tag:
            self._breaks_after.pop()
            self._parts.append("\f")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        text = data if self._pre_depth else _SPACES.sub(" ", data)
        self._parts.append(text)
        # Indentation between tags ("</div>\n  <p>") must not end the line's emptiness.
        self._at_break = self._at_break and not text.strip()

    def _line_break(self) -> None:
        """End the current line once: adjacent blocks do not stack up blank lines."""
        if not self._at_break:
            # EDGAR wraps cell text in <p>/<div>; inside a cell those must not split the row.
            self._parts.append(" " if self._in_cell else "\n")
        self._at_break = True

    def _open_table_part(self, tag: str) -> None:
        if tag == "tr":
            self._cells_in_row = 0
            self._in_cell = False
        elif tag in _CELLS:
            # html.parser does not close an unclosed <td>; a new cell ends the last one.
            self._parts.append("\t" if self._cells_in_row else "")
            self._cells_in_row += 1
            self._in_cell = True
            self._at_break = True

    def _page_break(self, tag: str, style: str) -> None:
        for match in _PAGE_BREAK.finditer(style):
            if match["where"].lower() == "after" and tag not in _VOID:
                self._breaks_after.append(tag)
            else:
                self._parts.append("\f")


def _tidy(text: str) -> str:
    pages = []
    for page in text.split("\f"):
        lines = (_AROUND_TABS.sub("\t", line).strip(" ") for line in page.split("\n"))
        pages.append(_BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n"))
    return "\f".join(pages)

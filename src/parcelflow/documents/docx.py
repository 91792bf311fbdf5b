"""DOCX to text with python-docx: paragraphs, tables and text boxes in document order.

The ZIP container is checked from its central directory *before* anything is
decompressed. That check is sound because :mod:`zipfile` never inflates a member past
the size the central directory declares (it stops there and then fails the CRC), and
python-docx reads every part through :mod:`zipfile`.

Text boxes live in ``w:txbxContent`` inside a run of the paragraph that anchors them
(ECMA-376 Part 1, 17.17.1). Word writes each one twice: a DrawingML copy under
``mc:AlternateContent/mc:Choice`` and a VML copy under ``mc:Fallback`` (Part 3,
markup compatibility); the fallback is skipped so the text appears once.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError

from parcelflow.errors import PermanentError

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_MEMBERS",
    "MAX_UNCOMPRESSED_BYTES",
    "RATIO_FLOOR_BYTES",
    "body_lines",
    "check_zip_limits",
    "compression_ratio",
    "open_zip",
    "read_docx",
]

MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
"""Sum of declared member sizes. python-docx holds every part in memory; real DOCX
leases are a few MB, image-heavy ones tens of MB."""

MAX_COMPRESSION_RATIO = 200
"""Per member. Word XML deflates 3-30x; a machine-generated, highly repetitive body
measured 140x (3,000 identical paragraphs plus a 2,000-row table). Deflate tops out near
1032:1, which is where bombs sit."""

RATIO_FLOOR_BYTES = 1024 * 1024
"""Members smaller than this skip the ratio test: a tiny part can have any ratio
harmlessly, and the total-size cap still bounds the sum."""

MAX_MEMBERS = 10_000
"""A DOCX has tens of parts; thousands means something else (or a central-directory
bomb)."""

_MAIN_PART = "word/document.xml"

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_P, _TBL, _TR, _TC, _T = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc", f"{_W}t"
_TXBX_CONTENT = f"{_W}txbxContent"
_FALLBACK = f"{_MC}Fallback"

# Run content that stands for a character (ECMA-376 Part 1, 17.3.3).
_CHARACTERS = {
    f"{_W}tab": "\t",
    f"{_W}br": "\n",
    f"{_W}cr": "\n",
    f"{_W}noBreakHyphen": "-",
}

# Never text: properties (w:pPr holds tab *stops*, also named w:tab), duplicated text-box
# fallbacks, and tracked deletions/moves-away (their text is gone from the document).
_NOT_TEXT = frozenset(
    {f"{_W}pPr", f"{_W}rPr", f"{_W}del", f"{_W}moveFrom", f"{_W}sectPr", _FALLBACK}
)

# lxml ships no type information; python-docx elements are lxml elements.
_Element = Any


def read_docx(data: bytes) -> str:
    """The text of a DOCX: one line per paragraph, table rows as tab-separated cells.

    Raises:
        PermanentError: ``not_zip``, ``corrupt``, ``zip_bomb``, or ``unsupported_type``
            (a ZIP that is not a Word document).
    """
    with open_zip(data) as archive:
        check_zip_limits(archive.infolist())
        if _MAIN_PART not in archive.namelist():
            raise PermanentError(
                f"ZIP archive without {_MAIN_PART} is not a DOCX", code="unsupported_type"
            )
    document = _load(data)
    return "\n".join(body_lines(document.element.body))


def open_zip(data: bytes) -> zipfile.ZipFile:
    """Open a ZIP container (reads the central directory only).

    Raises:
        PermanentError: ``not_zip`` when the bytes are no ZIP at all, ``corrupt`` when
            they start like one but are damaged or truncated.
    """
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        if data.startswith(b"PK"):
            raise PermanentError(f"corrupt or truncated ZIP/DOCX: {exc}", code="corrupt") from exc
        raise PermanentError("not a ZIP container, so not a DOCX", code="not_zip") from exc


def check_zip_limits(members: Sequence[zipfile.ZipInfo]) -> None:
    """Refuse an archive whose central directory describes a zip bomb.

    Raises:
        PermanentError: ``zip_bomb``.
    """
    if len(members) > MAX_MEMBERS:
        raise _bomb(f"{len(members):,} members (limit {MAX_MEMBERS:,})")
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _bomb(f"{total:,} bytes uncompressed (limit {MAX_UNCOMPRESSED_BYTES:,})")
    for member in members:
        ratio = compression_ratio(member)
        if member.file_size > RATIO_FLOOR_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise _bomb(
                f"member {member.filename!r} expands {ratio:,.0f}x (limit {MAX_COMPRESSION_RATIO}x)"
            )


def compression_ratio(member: zipfile.ZipInfo) -> float:
    """Declared uncompressed size over compressed size (stored members are 1.0)."""
    return member.file_size / max(member.compress_size, 1)


def body_lines(container: _Element) -> Iterator[str]:
    """Lines of a body-like element (body, table cell, text box) in document order."""
    for child in container:
        if child.tag == _P:
            yield from _paragraph_lines(child)
        elif child.tag == _TBL:
            yield from _table_lines(child)
        elif child.tag not in _NOT_TEXT:
            # Content controls (w:sdt), custom XML and tracked insertions wrap blocks.
            yield from body_lines(child)


def _paragraph_lines(paragraph: _Element) -> Iterator[str]:
    parts: list[str] = []
    boxes: list[_Element] = []
    _collect_runs(paragraph, parts, boxes)
    yield "".join(parts)
    # A text box's paragraphs follow the paragraph that anchors it.
    for box in boxes:
        yield from body_lines(box)


def _collect_runs(element: _Element, parts: list[str], boxes: list[_Element]) -> None:
    for child in element:
        tag = child.tag
        if tag == _T:
            parts.append(child.text or "")
        elif tag in _CHARACTERS:
            parts.append(_CHARACTERS[tag])
        elif tag == _TXBX_CONTENT:
            boxes.append(child)
        elif tag not in _NOT_TEXT:
            _collect_runs(child, parts, boxes)


def _table_lines(table: _Element) -> Iterator[str]:
    for row in table.iterchildren(_TR):
        cells = (_cell_text(cell) for cell in row.iterchildren(_TC))
        yield "\t".join(cells)


def _cell_text(cell: _Element) -> str:
    # A row stays one line: the cell's own paragraphs are joined by spaces.
    return " ".join(line.strip() for line in body_lines(cell) if line.strip())


def _load(data: bytes) -> Any:
    try:
        return docx.Document(io.BytesIO(data))
    except ValueError as exc:
        # python-docx: "file '...' is not a Word file, content type is '...'" (.docm, .dotx)
        code = "unsupported_type" if "not a Word file" in str(exc) else "corrupt"
        raise PermanentError(f"unreadable DOCX: {exc}", code=code) from exc
    except (PackageNotFoundError, KeyError, zipfile.BadZipFile, SyntaxError, OSError) as exc:
        # SyntaxError covers lxml's XMLSyntaxError (malformed part XML).
        raise PermanentError(f"corrupt DOCX: {exc}", code="corrupt") from exc


def _bomb(detail: str) -> PermanentError:
    return PermanentError(f"ZIP/DOCX refused as a zip bomb: {detail}", code="zip_bomb")

"""Document type from magic bytes, never from the file name.

Pure functions over bytes: no file system access, so they run anywhere (a
process-pool worker, a Celery task, a unit test).
"""

from __future__ import annotations

import io
import zipfile
from enum import StrEnum

__all__ = ["DocType", "sniff"]

_TEXT_PROBE = 8192


class DocType(StrEnum):
    """The kinds of document parcelflow tells apart."""

    PDF = "pdf"
    DOCX = "docx"
    TIFF = "tiff"
    PNG = "png"
    JPEG = "jpeg"
    HTML = "html"
    TEXT = "text"
    ZIP = "zip"
    EMPTY = "empty"
    UNKNOWN = "unknown"


_SIGNATURES: tuple[tuple[bytes, DocType], ...] = (
    (b"\x89PNG\r\n\x1a\n", DocType.PNG),
    (b"\xff\xd8\xff", DocType.JPEG),
    (b"II*\x00", DocType.TIFF),
    (b"MM\x00*", DocType.TIFF),
)


def sniff(data: bytes) -> DocType:
    """Return the document type of ``data`` (the whole file, or at least its head).

    A DOCX is told from other ZIP files by its ``word/document.xml`` part, which
    needs the central directory at the end of the file; given only a head, a
    DOCX is reported as ``zip``.
    """
    if not data:
        return DocType.EMPTY
    # PDF 1.7 (ISO 32000-1, 7.5.2) lets the header start anywhere in the first 1024 bytes.
    if b"%PDF-" in data[:1024]:
        return DocType.PDF
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    if data.startswith(b"PK\x03\x04"):
        return _sniff_zip(data)
    return _sniff_text(data[:_TEXT_PROBE])


def _sniff_zip(data: bytes) -> DocType:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return DocType.ZIP
    return DocType.DOCX if "word/document.xml" in names else DocType.ZIP


def _sniff_text(head: bytes) -> DocType:
    if b"\x00" in head:
        return DocType.UNKNOWN
    text = _decode(head)
    if text is None:
        return DocType.UNKNOWN
    if _looks_like_html(text):
        return DocType.HTML
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return DocType.TEXT if printable >= 0.95 * len(text) else DocType.UNKNOWN


def _decode(head: bytes) -> str | None:
    for encoding in ("utf-8", "cp1252"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the probe boundary is still UTF-8.
            if encoding == "utf-8" and exc.start >= len(head) - 3:
                return head[: exc.start].decode(encoding)
    return None


def _looks_like_html(text: str) -> bool:
    start = text.lstrip("\ufeff \t\r\n")[:512].lower()
    return start.startswith(("<!doctype html", "<html")) or (
        start.startswith("<") and "<html" in start
    )

"""Documents: type from magic bytes, and text page by page (text layer or OCR)."""

from __future__ import annotations

from parcelflow.documents.model import Document, Engine, Page
from parcelflow.documents.reader import DEFAULT_MAX_PIXELS, OcrMode, read_document
from parcelflow.documents.sniff import DocType, sniff

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DocType",
    "Document",
    "Engine",
    "OcrMode",
    "Page",
    "read_document",
    "sniff",
]

"""Documents: type from magic bytes, and text page by page (text layer or OCR).

The readers are imported on first use, so that a pipeline that only sniffs
types (``inventory``) does not load Pillow and python-docx in every worker.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

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

_WHERE = {
    "DEFAULT_MAX_PIXELS": "reader",
    "OcrMode": "reader",
    "read_document": "reader",
    "Document": "model",
    "Engine": "model",
    "Page": "model",
    "DocType": "sniff",
    "sniff": "sniff",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'parcelflow.documents' has no attribute {name!r}")
    return getattr(import_module(f"parcelflow.documents.{_WHERE[name]}"), name)

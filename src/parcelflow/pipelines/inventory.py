"""``inventory``: what is in a portfolio, before any extraction.

For each distinct file: its type from magic bytes, size, SHA-256, and for PDFs
the page count and whether there is a text layer (so a user knows what will
need OCR). One record per distinct content; it is the engine's reference
workload.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from parcelflow.core.pipeline import Pipeline, Record, Result, Stage, StageInput, register
from parcelflow.documents.sniff import DocType, sniff
from parcelflow.errors import PermanentError
from parcelflow.sources.files import IDENTIFY_FILE, file_submissions, read_file

__all__ = ["INVENTORY", "describe_pdf", "probe"]

# Pages looked at to decide whether a PDF has a text layer: enough to tell a
# scanned document from a born-digital one without reading a 900-page file.
_TEXT_SAMPLE_PAGES = 5
_MIN_TEXT_CHARS = 20  # fewer characters on every sampled page: no usable text layer

_MIME = {
    DocType.PDF: "application/pdf",
    DocType.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocType.TIFF: "image/tiff",
    DocType.PNG: "image/png",
    DocType.JPEG: "image/jpeg",
    DocType.HTML: "text/html",
    DocType.TEXT: "text/plain",
    DocType.ZIP: "application/zip",
}


def describe_pdf(data: bytes) -> dict[str, Any]:
    """Page count and text-layer presence of a PDF; ``pdf_status`` says if it would not open.

    The status is the document reader's own reason code (``encrypted``,
    ``corrupt``, ``empty``), so a file the lease pipeline would reject is
    flagged the same way here.
    """
    from parcelflow.documents.pdf import PdfFile

    try:
        with PdfFile(data) as pdf:
            pages = len(pdf)
            sample = range(min(pages, _TEXT_SAMPLE_PAGES))
            text_layer = any(
                len("".join(pdf.text_layer(i).text.split())) >= _MIN_TEXT_CHARS for i in sample
            )
    except PermanentError as exc:
        return {"pages": None, "text_layer": None, "pdf_status": exc.code}
    return {"pages": pages, "text_layer": text_layer, "pdf_status": "ok"}


def probe(item: StageInput) -> dict[str, Any]:
    """Everything the inventory records about one file (runs in the process pool)."""
    path = str(item.payload["path"])
    data = read_file(path)
    kind = sniff(data)
    fields: dict[str, Any] = {
        "path": path,
        "name": os.path.basename(path),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "type": kind.value,
        "mime": _MIME.get(kind, "application/octet-stream"),
        "pages": None,
        "text_layer": None,
        "pdf_status": None,
    }
    if kind == DocType.PDF:
        fields.update(describe_pdf(data))
    return fields


def to_record(item: StageInput) -> Result:
    """The inventory record, keyed by content hash (also for a replayed job)."""
    fields = dict(item.data)
    return Result(records=(Record("inventory", str(fields["sha256"]), fields),))


INVENTORY = register(
    Pipeline(
        name="inventory",
        collection="inventory",
        submissions=file_submissions,
        identify=IDENTIFY_FILE,
        stages=(Stage("probe", probe, where="process"), Stage("record", to_record)),
        summary="type, size, SHA-256, PDF pages and text layer of every distinct file",
    )
)

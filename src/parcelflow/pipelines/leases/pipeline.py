"""``lease``: PDF, DOCX, HTML, text and scanned leases to evidence-backed lease abstracts.

Stages (both CPU-bound, fused into one trip to the process pool):

1. ``read``: the document's text page by page; per-page OCR routing decided by
   the text layer's quality (``--ocr auto|always|never``), recorded on the job.
2. ``abstract``: rule-based extraction, validated by pydantic; below
   ``--min-confidence`` or not a lease at all, the job is quarantined.

One record per document content (keyed by SHA-256) in the ``leases`` collection.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parcelflow.core.pipeline import Pipeline, Record, Result, Stage, StageInput, register
from parcelflow.documents.model import Document
from parcelflow.errors import ParcelflowError
from parcelflow.sources.files import IDENTIFY_FILE, file_submissions, read_file

__all__ = ["LEASE", "LeaseOptions", "abstract", "read"]


class LeaseOptions(BaseModel):
    """``parcelflow run lease`` options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ocr: Literal["auto", "always", "never"] = "auto"
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)


def _options(item: StageInput) -> LeaseOptions:
    options = item.options
    assert isinstance(options, LeaseOptions)
    return options


def read(item: StageInput) -> Document:
    """The document's text, page by page, read by the engine its type and quality call for."""
    from parcelflow.documents.reader import read_document

    return read_document(read_file(str(item.payload["path"])), ocr=_options(item).ocr)


def _routing_notes(document: Document) -> dict[str, Any]:
    return {"engine": document.engine, "routing": [dict(r) for r in document.routing]}


def abstract(item: StageInput) -> Result:
    """The validated lease abstract of the document read by the previous stage."""
    from parcelflow.pipelines.leases.abstract import abstract_lease

    document: Document = item.data
    notes = _routing_notes(document)
    try:
        lease = abstract_lease(document, min_confidence=_options(item).min_confidence)
    except ParcelflowError as exc:
        raise exc.with_notes(notes) from None
    fields = {"source": item.source, "sha256": item.key, **lease.model_dump(mode="json")}
    return Result(records=(Record("leases", item.key, fields),), notes=notes)


LEASE = register(
    Pipeline(
        name="lease",
        collection="leases",
        submissions=file_submissions,
        identify=IDENTIFY_FILE,
        stages=(
            Stage("read", read, where="process", preload=("parcelflow.documents.reader",)),
            Stage(
                "abstract",
                abstract,
                where="process",
                preload=("parcelflow.pipelines.leases.abstract",),
            ),
        ),
        options=LeaseOptions,
        summary="lease abstracts (parties, premises, dates, rent, deposit, options) with evidence",
    )
)

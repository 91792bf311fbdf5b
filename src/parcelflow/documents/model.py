"""The text of a document, page by page, and how each page was read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Document", "Engine", "Page"]

Engine = Literal["pdf-text", "ocr", "docx", "text", "html"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of text. ``number`` is 1-based; sources without pages have one page."""

    number: int
    text: str
    engine: Engine


@dataclass(frozen=True, slots=True)
class Document:
    """A document's text and the routing decision made for each page.

    Attributes:
        pages: in reading order.
        engine: the engine that produced most of the text.
        routing: one JSON-able decision per page (why text layer or OCR),
            recorded on the job.
    """

    pages: tuple[Page, ...]
    engine: Engine
    routing: tuple[dict[str, Any], ...] = field(default=())

    @property
    def text(self) -> str:
        """All pages joined by form feeds (page boundaries stay recoverable)."""
        return "\f".join(page.text for page in self.pages)

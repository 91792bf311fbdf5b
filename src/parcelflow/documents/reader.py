"""Bytes of a document in, a :class:`~parcelflow.documents.model.Document` out.

Dispatch is on magic bytes (:func:`~parcelflow.documents.sniff.sniff`), never on a file
name. PDFs are routed page by page: a page keeps its text layer unless that layer is
missing or poor (too few characters for the page's area, or mostly junk), in which case
the page is rendered at 300 dpi and OCR'd. Every page's decision goes into
``Document.routing`` so a job can show why its text came from where it did.

Reading is CPU-bound and PDFium is not thread-safe: call :func:`read_document` from a
process-pool worker (the engine does), not from several threads of one process.

Errors (all one-line, with a ``code``):

* ``PermanentError``: ``empty``, ``encrypted``, ``corrupt`` (incl. truncated),
  ``not_zip``, ``zip_bomb``, ``decompression_bomb``, ``unsupported_type``,
  ``needs_ocr`` (an image with ``ocr="never"``), ``ocr_failed``.
* ``TransientError``: ``ocr_timeout``, ``ocr_killed``.
* ``ConfigError``: ``tesseract_missing``, ``tesseract_language``, ``invalid_option``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from parcelflow.documents.docx import read_docx
from parcelflow.documents.html import decode_text, html_to_text, split_pages
from parcelflow.documents.model import Document, Engine, Page
from parcelflow.documents.ocr import (
    DEFAULT_MAX_PIXELS,
    IMAGE_TYPES,
    OCR_MAX_PIXELS,
    image_pages,
    ocr_image,
)
from parcelflow.documents.pdf import PdfFile, TextLayer
from parcelflow.documents.sniff import DocType, sniff
from parcelflow.errors import ConfigError, PermanentError

__all__ = [
    "MAX_JUNK_SHARE",
    "MIN_CHARS_PER_SQ_INCH",
    "Decision",
    "OcrMode",
    "TextQuality",
    "judge_text_layer",
    "junk_share",
    "main_engine",
    "measure_text",
    "read_document",
    "route_page",
    "visible_chars",
]

OcrMode = Literal["auto", "always", "never"]
Decision = Literal["text", "ocr"]

MIN_CHARS_PER_SQ_INCH = 1.0
"""Below this a page's text layer is too thin to trust (1.0 = 94 chars on a Letter page).

Measured with pypdfium2 on the 21 CUAD exhibit PDFs: text pages have a median of 20-46
non-blank chars per square inch; the sparsest real text pages (exhibit covers, "Page 7
of 7") fall to 0.1-1.0, and OCR of those costs ~1 s and loses nothing because the
richer of the two texts is kept. Image-only scans measure 0, and a scan that carries only
a recorder's stamp line (~40 chars) measures ~0.4.
"""

MAX_JUNK_SHARE = 0.10
# Below this share of its area covered by images, a page with a thin or empty text
# layer is taken as born-digital (a signature page, a section's last lines, a blank
# page): scans are one image over (nearly) the whole page.
MIN_IMAGE_SHARE = 0.05
"""Above this share of junk characters the text layer is garbage (a font without a usable
ToUnicode map). Clean layers measure under 1% (stray symbol-font bullets in the Private
Use Area); a broken encoding garbles most of a page, so 10% leaves wide margin both ways.
"""

# pdfminer/pdfplumber write unmapped glyphs as "(cid:NN)"; such layers reach us too.
_CID = re.compile(r"\(cid:\d+\)")
# U+FFFD replacement, Private Use Area, and control characters other than whitespace.
_JUNK_CHAR = re.compile(r"[\ufffd\ue000-\uf8ff\x00-\x08\x0e-\x1f\x7f-\x9f]")

# Office documents that are OLE2 compound files: legacy .doc/.xls, or any password-
# protected OOXML file (MS-OFFCRYPTO wraps the encrypted package in OLE2).
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True, slots=True)
class TextQuality:
    """How much usable text a page's text layer holds.

    Attributes:
        chars: non-whitespace characters.
        chars_per_sq_in: ``chars`` over the page area.
        junk_share: share of ``chars`` that are junk (see :func:`junk_share`).
    """

    chars: int
    chars_per_sq_in: float
    junk_share: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, rounded for the routing record."""
        return {
            "chars": self.chars,
            "chars_per_sq_in": round(self.chars_per_sq_in, 2),
            "junk_share": round(self.junk_share, 4),
        }


def read_document(
    data: bytes, *, ocr: OcrMode = "auto", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Document:
    """Read a PDF, DOCX, HTML, plain-text, TIFF, PNG or JPEG document.

    Args:
        data: the whole file.
        ocr: ``"auto"`` routes each PDF page by the quality of its text layer;
            ``"always"`` OCRs every PDF page; ``"never"`` keeps text layers as they are
            (and refuses image documents). DOCX, HTML and text have nothing to OCR.
        max_pixels: largest image page (width x height) that will be decoded.

    Returns:
        The document's pages, main engine and per-page routing records.

    Raises:
        PermanentError: bad input (see the module docstring for codes).
        TransientError: OCR timed out or was killed.
        ConfigError: Tesseract missing, or an invalid argument.
    """
    _check_options(ocr, max_pixels)
    kind = sniff(data)
    reader = _READERS.get(kind)
    if reader is None:
        raise _unsupported(kind, data)
    return reader(data, kind, ocr, max_pixels)


def visible_chars(text: str) -> int:
    """Number of non-whitespace characters."""
    # str.split() runs in C over every Unicode whitespace: several times faster than a
    # regex substitution on the hot path (every page of every PDF).
    return sum(map(len, text.split()))


def junk_share(text: str, visible: int | None = None) -> float:
    """Share of the non-whitespace characters that are junk.

    Junk: ``(cid:NN)`` sequences (every character of them), U+FFFD, Private Use Area
    code points and non-whitespace control characters. 0.0 for text with no characters.
    ``visible`` is :func:`visible_chars` of ``text`` when the caller has it already.
    """
    total = visible_chars(text) if visible is None else visible
    if total == 0:
        return 0.0
    cid_chars = 0
    if "(cid:" in text:
        cid_chars = sum(len(match) for match in _CID.findall(text))
        text = _CID.sub("", text)
    return (cid_chars + len(_JUNK_CHAR.findall(text))) / total


def measure_text(text: str, area_sq_in: float) -> TextQuality:
    """Measure a text layer against the page area it covers."""
    chars = visible_chars(text)
    density = chars / area_sq_in if area_sq_in > 0 else 0.0
    return TextQuality(chars, density, junk_share(text, chars))


def judge_text_layer(quality: TextQuality) -> str:
    """Name the verdict on a text layer.

    Returns:
        ``no_text_layer``, ``junk_text``, ``sparse_text`` or ``text_layer_ok``.
    """
    if quality.chars == 0:
        return "no_text_layer"
    if quality.junk_share > MAX_JUNK_SHARE:
        return "junk_text"
    if quality.chars_per_sq_in < MIN_CHARS_PER_SQ_INCH:
        return "sparse_text"
    return "text_layer_ok"


def route_page(quality: TextQuality, mode: OcrMode) -> tuple[Decision, str]:
    """Decide how to read one PDF page.

    Returns:
        The decision (``text`` or ``ocr``) and the verdict on the text layer; with
        ``mode`` ``always``/``never`` the verdict is still reported, but overridden.
    """
    verdict = judge_text_layer(quality)
    if mode == "always":
        return "ocr", verdict
    if mode == "never" or verdict == "text_layer_ok":
        return "text", verdict
    return "ocr", verdict


def main_engine(pages: Sequence[Page]) -> Engine:
    """The engine that produced most characters (the first page's engine on a tie)."""
    weights: dict[Engine, int] = {}
    for page in pages:
        weights[page.engine] = weights.get(page.engine, 0) + visible_chars(page.text)
    return max(weights, key=weights.__getitem__)


def _check_options(ocr: str, max_pixels: int) -> None:
    if ocr not in get_args(OcrMode):
        raise ConfigError(
            f"ocr must be one of {', '.join(get_args(OcrMode))}, not {ocr!r}",
            code="invalid_option",
        )
    if max_pixels <= 0:
        raise ConfigError(f"max_pixels must be positive, not {max_pixels}", code="invalid_option")


def _read_pdf(data: bytes, kind: DocType, mode: OcrMode, max_pixels: int) -> Document:
    with PdfFile(data) as pdf:
        results = [_read_pdf_page(pdf, index, mode, max_pixels) for index in range(len(pdf))]
    pages = tuple(page for page, _ in results)
    return Document(pages, main_engine(pages), tuple(record for _, record in results))


def _read_pdf_page(
    pdf: PdfFile, index: int, mode: OcrMode, max_pixels: int
) -> tuple[Page, dict[str, Any]]:
    layer = pdf.text_layer(index)
    quality = measure_text(layer.text, layer.area_sq_in)
    decision, reason = route_page(quality, mode)
    record: dict[str, Any] = {"mode": mode}
    if decision == "ocr" and mode == "auto":
        share = pdf.image_share(index)  # costly (walks every page object): only when needed
        record["image_share"] = round(share, 3)
        if _nothing_to_ocr(reason, share):
            decision, reason = "text", f"{reason}_no_image"
    record = {"page": layer.number, "decision": decision, "reason": reason} | record
    record |= quality.as_dict()
    if decision == "text":
        return Page(layer.number, layer.text, "pdf-text"), record | {"engine": "pdf-text"}
    return _ocr_pdf_page(pdf, layer, quality, record, max_pixels)


def _nothing_to_ocr(reason: str, image_share: float) -> bool:
    """A page whose text is thin or absent but which holds no image: OCR can add nothing.

    A junk layer is always OCR'd (the glyphs are there, their text is not).
    """
    return reason in ("sparse_text", "no_text_layer") and image_share < MIN_IMAGE_SHARE


def _ocr_pdf_page(
    pdf: PdfFile,
    layer: TextLayer,
    quality: TextQuality,
    record: dict[str, Any],
    max_pixels: int,
) -> tuple[Page, dict[str, Any]]:
    rendered = pdf.render(layer.number - 1, max_pixels=min(max_pixels, OCR_MAX_PIXELS))
    text = ocr_image(rendered.image, dpi=rendered.dpi)
    ocr_chars = visible_chars(text)
    # A sparse but clean layer (an exhibit cover) may already hold all the page says;
    # keep whichever text is richer. A junk layer is never kept.
    keep_layer = record["mode"] == "auto" and record["reason"] == "sparse_text"
    if keep_layer and quality.chars >= ocr_chars:
        page = Page(layer.number, layer.text, "pdf-text")
    else:
        page = Page(layer.number, text, "ocr")
    return page, record | {"engine": page.engine, "ocr_chars": ocr_chars, "dpi": rendered.dpi}


def _read_image(data: bytes, kind: DocType, mode: OcrMode, max_pixels: int) -> Document:
    if mode == "never":
        raise PermanentError(
            f"{kind.upper()} image has no text without OCR, and ocr='never'", code="needs_ocr"
        )
    pages: list[Page] = []
    routing: list[dict[str, Any]] = []
    for number, image in enumerate(image_pages(data, max_pixels=max_pixels), start=1):
        text = ocr_image(image.image, dpi=image.dpi)
        pages.append(Page(number, text, "ocr"))
        record = {"page": number, "decision": "ocr", "reason": "image", "mode": mode}
        routing.append(record | {"engine": "ocr", "chars": visible_chars(text)} | image.describe())
    return Document(tuple(pages), "ocr", tuple(routing))


def _read_docx(data: bytes, kind: DocType, mode: OcrMode, max_pixels: int) -> Document:
    return _native_document([read_docx(data)], "docx", mode)


def _read_html(data: bytes, kind: DocType, mode: OcrMode, max_pixels: int) -> Document:
    return _native_document(split_pages(html_to_text(decode_text(data))), "html", mode)


def _read_text(data: bytes, kind: DocType, mode: OcrMode, max_pixels: int) -> Document:
    return _native_document(split_pages(decode_text(data)), "text", mode)


def _native_document(texts: Sequence[str], engine: Engine, mode: OcrMode) -> Document:
    """Pages from a format that carries its text (nothing to route, nothing to OCR)."""
    if not any(text.strip() for text in texts):
        raise PermanentError(f"{engine.upper()} document contains no text", code="empty")
    pages = tuple(Page(number, text, engine) for number, text in enumerate(texts, start=1))
    routing = tuple(
        {
            "page": page.number,
            "decision": "text",
            "reason": "native_text",
            "mode": mode,
            "engine": engine,
            "chars": visible_chars(page.text),
        }
        for page in pages
    )
    return Document(pages, engine, routing)


def _unsupported(kind: DocType, data: bytes) -> PermanentError:
    if kind is DocType.EMPTY:
        return PermanentError("empty file (0 bytes)", code="empty")
    if data.startswith(_OLE2_MAGIC):
        return PermanentError(
            "OLE2 compound file (legacy .doc/.xls, or a password-protected Office "
            "document) is not supported; save it as DOCX or PDF",
            code="unsupported_type",
        )
    return PermanentError(f"unsupported document type ({kind})", code="unsupported_type")


_Reader = Callable[[bytes, DocType, OcrMode, int], Document]

_READERS: Mapping[DocType, _Reader] = {
    DocType.PDF: _read_pdf,
    DocType.DOCX: _read_docx,
    # A ZIP that sniff could not call a DOCX: read_docx says whether it is damaged
    # ("corrupt"), a bomb, or simply another kind of archive ("unsupported_type").
    DocType.ZIP: _read_docx,
    DocType.HTML: _read_html,
    DocType.TEXT: _read_text,
    **dict.fromkeys(IMAGE_TYPES, _read_image),
}

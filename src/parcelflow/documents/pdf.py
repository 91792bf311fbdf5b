"""PDF text layers and page images through pypdfium2 (PDFium).

PDFium is not thread-safe: a :class:`PdfFile` must be used by one thread at a time. The
engine reads documents in a process pool, so each worker has its own PDFium.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from parcelflow.errors import PermanentError

__all__ = [
    "EOF_WINDOW",
    "POINTS_PER_INCH",
    "RENDER_DPI",
    "PdfFile",
    "RenderedPage",
    "TextLayer",
    "check_complete",
    "normalize_text_layer",
    "render_scale",
]

RENDER_DPI = 300
"""Tesseract is tuned for ~300 dpi; less loses small type, more only costs time."""

POINTS_PER_INCH = 72
"""PDF user-space units (ISO 32000-1, 8.3.2.3)."""

EOF_WINDOW = 1024
"""Where ``%%EOF`` must appear: Acrobat looks for it in the last 1024 bytes (PDF 1.7
reference, implementation note 18); a download cut short has no marker there."""

# PDFium reports a hyphen that ends a line as U+FFFE and joins the two lines (seen in the
# CUAD exhibits: "non\ufffeconformance"); it also leaves NULs and CR LF line ends, and
# no-break spaces (U+00A0) between every word in several CUAD PDFs.
_TEXT_LAYER_FIXES = (("\ufffe", "-"), ("\x00", ""), ("\r", ""), ("\xa0", " "))

# Document-load error codes (fpdfview.h, FPDF_GetLastError) that mean "locked".
_ENCRYPTED_ERRORS = frozenset({pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY})


@dataclass(frozen=True, slots=True)
class TextLayer:
    """The embedded text of one page and the page's size.

    Attributes:
        number: 1-based page number.
        text: normalised text (``\\n`` line ends).
        width_pt: page width in points (1/72 in).
        height_pt: page height in points.
    """

    number: int
    text: str
    width_pt: float
    height_pt: float

    @property
    def area_sq_in(self) -> float:
        """Page area in square inches."""
        return self.width_pt * self.height_pt / POINTS_PER_INCH**2


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A page rendered for OCR: 8-bit gray image and its effective resolution."""

    image: Image.Image
    dpi: int


def _image_share(page: pdfium.PdfPage, area: float) -> float:
    """Share of the page covered by image objects (capped at 1; overlaps count twice).

    A page with little text and no image has nothing more to read: OCR of a
    signature page or a section's last lines would only cost time.
    """
    if area <= 0:
        return 0.0
    covered = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        covered += max(0.0, right - left) * max(0.0, top - bottom)
    return min(1.0, covered / area)


class PdfFile:
    """An open PDF. Use it as a context manager so PDFium's memory is released.

    Raises (on open):
        PermanentError: ``empty``, ``encrypted`` (a user password is needed) or
            ``corrupt`` (incl. truncated).
    """

    def __init__(self, data: bytes) -> None:
        check_complete(data)
        self._pdf = _load(data)
        self._page_count = len(self._pdf)
        if self._page_count == 0:
            self.close()
            raise PermanentError("PDF has no pages", code="empty")

    def __enter__(self) -> PdfFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return self._page_count

    def close(self) -> None:
        """Release the document (idempotent)."""
        self._pdf.close()

    def text_layer(self, index: int) -> TextLayer:
        """The text layer of page ``index`` (0-based)."""
        with self._page(index) as page:
            width, height = page.get_size()
            textpage = page.get_textpage()
            try:
                raw = str(textpage.get_text_range())
            finally:
                textpage.close()
        return TextLayer(index + 1, normalize_text_layer(raw), float(width), float(height))

    def image_share(self, index: int) -> float:
        """Share of page ``index`` covered by images (asked only of pages headed for OCR)."""
        with self._page(index) as page:
            width, height = page.get_size()
            return _image_share(page, float(width) * float(height))

    def render(
        self, index: int, *, dpi: int = RENDER_DPI, max_pixels: int | None = None
    ) -> RenderedPage:
        """Render page ``index`` (0-based) in 8-bit gray for OCR.

        Args:
            index: 0-based page index.
            dpi: wanted resolution.
            max_pixels: cap on the bitmap size; a page whose declared size would exceed
                it at ``dpi`` is rendered at a lower resolution instead (a PDF may
                declare pages up to 200 in square, 3.6 Gpx at 300 dpi).
        """
        with self._page(index) as page:
            width, height = page.get_size()
            scale = render_scale(width, height, dpi, max_pixels)
            bitmap = page.render(scale=scale, grayscale=True)
            try:
                # to_pil() shares PDFium's buffer, which close() frees: take a copy.
                image: Image.Image = bitmap.to_pil().copy()
            finally:
                bitmap.close()
        return RenderedPage(image, round(scale * POINTS_PER_INCH))

    @contextmanager
    def _page(self, index: int) -> Iterator[Any]:
        try:
            page = self._pdf[index]
        except pdfium.PdfiumError as exc:
            raise PermanentError(f"corrupt PDF: page {index + 1}: {exc}", code="corrupt") from exc
        try:
            yield page
        except pdfium.PdfiumError as exc:
            raise PermanentError(f"corrupt PDF: page {index + 1}: {exc}", code="corrupt") from exc
        finally:
            page.close()


def check_complete(data: bytes) -> None:
    """Reject empty and truncated PDFs before PDFium sees them.

    PDFium rebuilds a damaged cross-reference table by scanning, so a file cut short can
    open and silently lose its last pages; the missing ``%%EOF`` gives that away.

    Raises:
        PermanentError: ``empty`` or ``corrupt``.
    """
    if not data.strip():
        raise PermanentError("empty PDF file", code="empty")
    if b"%%EOF" not in data[-EOF_WINDOW:]:
        raise PermanentError(
            f"truncated PDF: no %%EOF marker in its last {EOF_WINDOW} bytes", code="corrupt"
        )


def normalize_text_layer(raw: str) -> str:
    """Undo PDFium's text quirks: U+FFFE line-end hyphens, NULs, CR LF, no-break spaces."""
    # str.translate takes a slow per-character path on any non-ASCII text (most lease
    # pages: curly quotes, section signs); a membership test and str.replace per quirk is
    # ~30 times faster on the hot path (every page of every PDF).
    for quirk, fix in _TEXT_LAYER_FIXES:
        if quirk in raw:
            raw = raw.replace(quirk, fix)
    return raw


def render_scale(
    width_pt: float, height_pt: float, dpi: int = RENDER_DPI, max_pixels: int | None = None
) -> float:
    """The PDFium render scale for ``dpi``, lowered so the bitmap fits ``max_pixels``."""
    scale = dpi / POINTS_PER_INCH
    pixels = width_pt * scale * height_pt * scale
    if max_pixels is not None and pixels > max_pixels:
        scale *= math.sqrt(max_pixels / pixels)
    return scale


def _load(data: bytes) -> Any:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in _ENCRYPTED_ERRORS:
            raise PermanentError(
                "PDF is encrypted and needs a password to open", code="encrypted"
            ) from exc
        raise PermanentError(f"corrupt PDF: {exc}", code="corrupt") from exc
    # Filled-in AcroForm fields are drawn only when the form environment exists; must be
    # set up before any page is loaded.
    pdf.init_forms()
    return pdf

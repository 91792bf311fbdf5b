"""PDF reading with real pypdfium2 and Tesseract: text layers, routing, bad input."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import letter
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from parcelflow.documents.ocr import ocr_image
from parcelflow.documents.pdf import PdfFile
from parcelflow.documents.reader import read_document
from parcelflow.errors import PermanentError

IMAGE_ONLY_PDF = "mn_stearns-SSLMKonica23091509280.pdf"
TEXT_LAYER_SCAN_PDF = "mn_stearns-usmnstr-aag-026-000-0000-000_00135-000.pdf"
CLEAN_CUAD_PDF = "DYNTEKINC_07_30_1999-EX-10-ONLINE HOSTING AGREEMENT.PDF"

LEASE_LINES = [
    "LEASE AGREEMENT",
    "The Landlord leases the Premises",
    "to the Tenant for a term of five years.",
]


def make_pdf(pages: list[list[str]], *, encrypt: StandardEncryption | None = None) -> bytes:
    """A text-layer PDF, one list of lines per page, in 16-pt Helvetica."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter, encrypt=encrypt)
    for lines in pages:
        pdf.setFont("Helvetica", 16)
        for row, line in enumerate(lines):
            pdf.drawString(72, 700 - 24 * row, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def image_then_text_pdf() -> bytes:
    """Page 1: a picture of LEASE_LINES (no text layer). Page 2: a normal text page."""
    with PdfFile(make_pdf([LEASE_LINES])) as source:
        picture = source.render(0, dpi=200).image
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pdf.drawImage(ImageReader(picture), 0, 0, width=letter[0], height=letter[1])
    pdf.showPage()
    pdf.setFont("Helvetica", 11)
    for row in range(40):
        pdf.drawString(
            72, 720 - 14 * row, f"Section {row}. The Tenant shall pay Base Rent monthly."
        )
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def invisible_text_pdf(text: str) -> bytes:
    """A blank-looking page whose text layer is invisible (render mode 3), as on scans."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    layer = pdf.beginText(72, 700)
    layer.setTextRenderMode(3)
    layer.textLine(text)
    pdf.drawText(layer)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{3,}", text.lower()))


def rejection(data: bytes) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        read_document(data)
    return caught.value


def test_cuad_text_layers_match_the_published_text(cuad: Path) -> None:
    pdfs = sorted((cuad / "pdf").iterdir())
    assert len(pdfs) == 21
    for path in pdfs:
        document = read_document(path.read_bytes(), ocr="never")
        published = words((cuad / "txt" / f"{path.stem}.txt").read_text(encoding="utf-8"))
        overlap = len(words(document.text) & published) / len(published)
        assert overlap > 0.98, path.name
        assert [record["page"] for record in document.routing] == list(
            range(1, len(document.pages) + 1)
        )
        assert {record["reason"] for record in document.routing} <= {
            "text_layer_ok",
            "sparse_text",
        }, path.name


def test_a_clean_text_pdf_needs_no_ocr(cuad: Path) -> None:
    document = read_document((cuad / "pdf" / CLEAN_CUAD_PDF).read_bytes())
    assert document.engine == "pdf-text"
    assert len(document.pages) == 6
    assert all(record["decision"] == "text" for record in document.routing)
    assert all(record["reason"] == "text_layer_ok" for record in document.routing)
    assert "\r" not in document.text


def test_a_scan_with_a_text_layer_keeps_it(deeds: Path) -> None:
    document = read_document((deeds / TEXT_LAYER_SCAN_PDF).read_bytes())
    (record,) = document.routing
    assert record["decision"] == "text"
    assert record["chars_per_sq_in"] > 5
    assert "Muellner" in document.text


def test_an_image_only_pdf_is_routed_to_ocr_on_every_page(deeds: Path) -> None:
    document = read_document((deeds / IMAGE_ONLY_PDF).read_bytes(), ocr="never")
    assert [record["reason"] for record in document.routing] == ["no_text_layer"] * 3
    assert [record["decision"] for record in document.routing] == ["text"] * 3  # overridden
    assert document.text == "\f\f"


def test_a_rendered_scanned_page_is_recognised(deeds: Path, tesseract: str) -> None:
    with PdfFile((deeds / IMAGE_ONLY_PDF).read_bytes()) as pdf:
        page = pdf.render(0)
    assert page.dpi == 300
    assert page.image.mode == "L"
    assert "Stearns County" in ocr_image(page.image, dpi=page.dpi)


def test_auto_routing_ocrs_the_picture_page_only(tesseract: str) -> None:
    document = read_document(image_then_text_pdf())
    first, second = document.routing
    assert (first["decision"], first["reason"], first["engine"]) == ("ocr", "no_text_layer", "ocr")
    assert first["dpi"] == 300
    assert (second["decision"], second["reason"]) == ("text", "text_layer_ok")
    assert "Landlord leases the Premises" in document.pages[0].text
    assert document.pages[1].engine == "pdf-text"
    assert document.engine == "pdf-text"  # page 2 carries most of the characters


def test_a_sparse_layer_without_images_is_kept_without_ocr() -> None:
    # Nothing on the page but a few words of text: OCR could add nothing.
    document = read_document(invisible_text_pdf("EXHIBIT A - LEGAL DESCRIPTION"))
    (record,) = document.routing
    assert (record["decision"], record["reason"]) == ("text", "sparse_text_no_image")
    assert record["image_share"] == 0.0
    assert record["engine"] == "pdf-text"
    assert document.text == "EXHIBIT A - LEGAL DESCRIPTION"


def test_always_mode_replaces_even_a_good_layer(tesseract: str) -> None:
    document = read_document(make_pdf([LEASE_LINES * 2]), ocr="always")
    (record,) = document.routing
    assert (record["decision"], record["reason"], record["mode"]) == (
        "ocr",
        "text_layer_ok",
        "always",
    )
    assert document.engine == "ocr"
    assert "five years" in document.text


def test_a_user_password_pdf_is_encrypted() -> None:
    locked = make_pdf([LEASE_LINES], encrypt=StandardEncryption("secret", ownerPassword="o"))
    error = rejection(locked)
    assert error.code == "encrypted"
    assert "\n" not in str(error)


def test_an_owner_password_only_pdf_is_readable() -> None:
    restricted = StandardEncryption("", ownerPassword="owner", canCopy=0, canModify=0)
    document = read_document(make_pdf([LEASE_LINES], encrypt=restricted), ocr="never")
    assert "LEASE AGREEMENT" in document.text


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_truncated_real_pdf_is_corrupt(cuad: Path, keep: float) -> None:
    data = (cuad / "pdf" / CLEAN_CUAD_PDF).read_bytes()
    assert rejection(data[: int(len(data) * keep)]).code == "corrupt"


def test_truncation_is_named_in_the_message(cuad: Path) -> None:
    data = (cuad / "pdf" / CLEAN_CUAD_PDF).read_bytes()
    assert "truncated" in rejection(data[:-200]).message


def test_garbage_behind_a_pdf_header_is_corrupt() -> None:
    assert rejection(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n").code == "corrupt"


def test_a_pdf_header_alone_is_corrupt() -> None:
    assert rejection(b"%PDF-1.4\n").code == "corrupt"

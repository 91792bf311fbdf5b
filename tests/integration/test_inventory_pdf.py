"""Inventory's PDF facts use the document reader's own reason codes."""

from __future__ import annotations

import io
from pathlib import Path

from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from parcelflow.pipelines.inventory import describe_pdf


def _pdf(encrypt: StandardEncryption | None = None) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt=encrypt)
    pdf.drawString(50, 700, "Lease of Suite 100 between Landlord and Tenant")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_text_layer_scan_encrypted_and_truncated(shared_data: Path) -> None:
    assert describe_pdf(_pdf()) == {"pages": 1, "text_layer": True, "pdf_status": "ok"}
    scan = shared_data / "scans" / "deeds" / "mn_stearns-SSLMKonica23091509280.pdf"
    assert describe_pdf(scan.read_bytes()) == {"pages": 3, "text_layer": False, "pdf_status": "ok"}
    assert describe_pdf(_pdf(StandardEncryption("secret")))["pdf_status"] == "encrypted"
    assert describe_pdf(_pdf()[:300])["pdf_status"] == "corrupt"

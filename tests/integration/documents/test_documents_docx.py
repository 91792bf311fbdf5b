"""DOCX reading with real python-docx: body order, tables, text boxes, hostile ZIPs."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.document import Document as DocxDocument
from docx.oxml import parse_xml
from docx.shared import Inches

from parcelflow.documents.docx import read_docx
from parcelflow.documents.reader import read_document
from parcelflow.errors import PermanentError

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NAMESPACES = (
    f'xmlns:w="{W}" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)


def paragraphs_xml(*lines: str) -> str:
    return "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in lines)


def text_box_run(*lines: str) -> str:
    """A floating text box as Word writes it: DrawingML choice plus a VML fallback copy."""
    content = f"<w:txbxContent>{paragraphs_xml(*lines)}</w:txbxContent>"
    return (
        f"<w:r {NAMESPACES}><mc:AlternateContent>"
        '<mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData>'
        f"<wps:wsp><wps:txbx>{content}</wps:txbx></wps:wsp>"
        "</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><v:shape><v:textbox>{content}</v:textbox></v:shape></w:pict>"
        "</mc:Fallback></mc:AlternateContent></w:r>"
    )


def build_lease_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Lease Agreement", level=1)
    intro = document.add_paragraph("The Landlord leases the Premises.")
    intro.paragraph_format.tab_stops.add_tab_stop(Inches(1))  # a w:tab in w:pPr: no text
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Period", "Monthly Rent"
    table.cell(1, 0).text = "Year 1"
    table.cell(1, 1).text = "$10,000"
    table.cell(1, 1).add_paragraph("(abated)")
    anchor = document.add_paragraph("See the box:")
    anchor._p.append(parse_xml(text_box_run("Box line 1", "Box line 2")))
    run = document.add_paragraph().add_run("Rent")
    run.add_tab()
    run.add_text("due")
    run.add_break()
    run.add_text("monthly")
    body = document.element.body
    body.insert(
        len(body) - 1,  # before w:sectPr
        parse_xml(
            f"<w:sdt {NAMESPACES}><w:sdtContent>{paragraphs_xml('In a control')}"
            "</w:sdtContent></w:sdt>"
        ),
    )
    tracked = parse_xml(
        f"<w:p {NAMESPACES}><w:r><w:t>kept </w:t></w:r>"
        "<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>"
        "<w:ins><w:r><w:t>inserted</w:t></w:r></w:ins></w:p>"
    )
    body.insert(len(body) - 1, tracked)
    return save(document)


def save(document: DocxDocument) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def with_member(data: bytes, name: str, content: bytes) -> bytes:
    """Copy a ZIP and add one member."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            target.writestr(member, source.read(member))
        target.writestr(name, content)
    return buffer.getvalue()


def rejection(data: bytes) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        read_document(data)
    return caught.value


def test_body_order_with_tables_text_boxes_and_controls() -> None:
    assert read_docx(build_lease_docx()).split("\n") == [
        "Lease Agreement",
        "The Landlord leases the Premises.",
        "Period\tMonthly Rent",
        "Year 1\t$10,000 (abated)",
        "See the box:",
        "Box line 1",
        "Box line 2",
        "Rent\tdue",
        "monthly",
        "In a control",
        "kept inserted",
    ]


def test_a_text_box_is_read_once_not_twice() -> None:
    assert read_docx(build_lease_docx()).count("Box line 1") == 1


def test_read_document_gives_one_docx_page() -> None:
    document = read_document(build_lease_docx(), ocr="always")
    assert document.engine == "docx"
    (page,) = document.pages
    assert page.number == 1
    assert document.routing[0]["reason"] == "native_text"


def test_a_docx_carrying_a_zip_bomb_member_is_refused() -> None:
    bomb = with_member(build_lease_docx(), "word/media/image1.bin", bytes(64 * 1024 * 1024))
    assert len(bomb) < 200 * 1024
    error = rejection(bomb)
    assert error.code == "zip_bomb"
    assert "image1.bin" in error.message


def test_a_truncated_docx_is_corrupt() -> None:
    data = build_lease_docx()
    assert rejection(data[: len(data) // 2]).code == "corrupt"


def test_non_zip_bytes_are_not_zip() -> None:
    with pytest.raises(PermanentError) as caught:
        read_docx(b"Lease between Landlord and Tenant")
    assert caught.value.code == "not_zip"


def test_a_zip_that_is_not_a_docx_is_unsupported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lease.txt", "Lease")
    assert rejection(buffer.getvalue()).code == "unsupported_type"


def test_malformed_document_xml_is_corrupt() -> None:
    source = build_lease_docx()
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(source)) as original,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as broken,
    ):
        for member in original.infolist():
            content = original.read(member)
            if member.filename == "word/document.xml":
                content = content[: len(content) // 2]
            broken.writestr(member, content)
    assert rejection(buffer.getvalue()).code == "corrupt"


def test_a_docx_without_text_is_empty() -> None:
    assert rejection(save(docx.Document())).code == "empty"

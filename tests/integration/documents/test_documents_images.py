"""Image documents with real Pillow and Tesseract: real scans, bombs, OCR failures."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from parcelflow.documents.ocr import OCR_MAX_PIXELS, image_pages, ocr_image
from parcelflow.documents.reader import read_document
from parcelflow.documents.sniff import DocType, sniff
from parcelflow.errors import ConfigError, PermanentError, TransientError

BIG_SPREAD = "doc_000000_book_007_page_321.tif"  # 13,728 x 10,381 = 142.5 Mpx, G4


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares ``width`` x ``height`` (8-bit gray)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def rejection(data: bytes, **options: int) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        read_document(data, **options)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (50_000, 50_000),  # above Pillow's own hard ceiling (179 Mpx)
        (13_000, 13_000),  # 169 Mpx: between Pillow's warning and its ceiling; ours fires
    ],
)
def test_a_png_header_claiming_a_huge_size_is_a_decompression_bomb(width: int, height: int) -> None:
    data = png_claiming(width, height)
    assert len(data) < 200
    error = rejection(data)
    assert error.code == "decompression_bomb"


def test_max_pixels_is_applied_to_the_header_size() -> None:
    assert rejection(png_claiming(200, 200), max_pixels=39_999).code == "decompression_bomb"


def test_a_png_whose_pixels_are_missing_is_corrupt() -> None:
    assert rejection(png_claiming(2_000, 2_000)).code == "corrupt"


def test_the_real_142_mpx_spread_is_read_at_half_size(deeds: Path) -> None:
    (page,) = image_pages((deeds / BIG_SPREAD).read_bytes())
    assert page.source_size == (13_728, 10_381)
    assert page.image.size == (6_864, 5_191)
    assert page.image.mode == "L"
    assert page.dpi == 150


def test_the_142_mpx_spread_is_refused_under_a_lower_limit(deeds: Path) -> None:
    data = (deeds / BIG_SPREAD).read_bytes()
    assert rejection(data, max_pixels=100_000_000).code == "decompression_bomb"


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("mn_anoka_26360876_index_color_multipage.TIF", 11),
        ("mn_sherburne_Abstract_104316_bigmem.tif", 3),
    ],
)
def test_every_page_of_a_multi_page_tiff_is_read(deeds: Path, name: str, count: int) -> None:
    pages = list(image_pages((deeds / name).read_bytes()))
    assert len(pages) == count
    assert {page.image.mode for page in pages} == {"1"}  # G4 stays bilevel
    assert {page.dpi for page in pages} == {300}


def test_a_tiff_is_known_by_its_bytes_not_its_extension(deeds: Path) -> None:
    data = (deeds / "19499142059800.001").read_bytes()
    assert sniff(data) is DocType.TIFF
    (page,) = image_pages(data)
    assert page.image.size == (3_776, 6_040)


def test_a_page_without_resolution_tag_lets_tesseract_estimate(deeds: Path) -> None:
    (page,) = image_pages((deeds / "mn_olmsted_H81540_index_color_1_page.tiff").read_bytes())
    assert page.dpi is None


def test_a_real_deed_is_recognised(deeds: Path, tesseract: str) -> None:
    document = read_document((deeds / "dc_dc_192109130194.tif").read_bytes())
    assert document.engine == "ocr"
    (record,) = document.routing
    assert (record["decision"], record["reason"], record["dpi"]) == ("ocr", "image", 300)
    assert "DEED" in document.text
    assert "1921" in document.text


def test_a_truncated_tiff_is_corrupt(deeds: Path) -> None:
    data = (deeds / "dc_dc_192109130194.tif").read_bytes()
    assert rejection(data[: len(data) // 2]).code == "corrupt"


def test_an_image_with_ocr_never_needs_ocr(deeds: Path) -> None:
    data = (deeds / "dc_dc_192109130194.tif").read_bytes()
    with pytest.raises(PermanentError) as caught:
        read_document(data, ocr="never")
    assert caught.value.code == "needs_ocr"


def test_a_large_jpeg_is_decoded_at_reduced_scale() -> None:
    data = encoded(Image.new("L", (8_000, 6_000), 255), "JPEG")
    (page,) = image_pages(data)
    assert page.source_size == (8_000, 6_000)
    assert page.image.width * page.image.height <= OCR_MAX_PIXELS


def test_transparent_png_is_flattened_onto_white() -> None:
    picture = Image.new("RGBA", (400, 100), (0, 0, 0, 0))
    ImageDraw.Draw(picture).text((10, 40), "Lease", fill=(0, 0, 0, 255))
    (page,) = image_pages(encoded(picture, "PNG"))
    assert page.image.mode == "L"
    assert page.image.getpixel((0, 0)) == 255
    darkest, _ = page.image.getextrema()
    assert isinstance(darkest, int)
    assert darkest < 128  # the black text survived


def test_missing_tesseract_is_a_config_error_saying_how_to_install() -> None:
    with pytest.raises(ConfigError) as caught:
        ocr_image(Image.new("L", (50, 50), 255), dpi=300, binary="/nonexistent/tesseract")
    assert caught.value.code == "tesseract_missing"
    assert "apt-get install tesseract-ocr" in caught.value.message


def test_missing_language_data_is_a_config_error(tesseract: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ocr_image(Image.new("L", (50, 50), 255), dpi=300, lang="qqq")
    assert caught.value.code == "tesseract_language"
    assert "tesseract-ocr-qqq" in caught.value.message


def test_a_tesseract_timeout_is_transient(tesseract: str) -> None:
    # Loading the English model alone takes far longer than a millisecond.
    with pytest.raises(TransientError) as caught:
        ocr_image(Image.new("L", (500, 500), 255), dpi=300, timeout=0.001)
    assert caught.value.code == "ocr_timeout"

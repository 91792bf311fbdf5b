"""Pure helpers of the OCR and PDF layers: limits, scales, commands, encodings."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from parcelflow.documents.ocr import (
    DEFAULT_MAX_PIXELS,
    OCR_MAX_PIXELS,
    check_pixels,
    encode_for_tesseract,
    reduction_factor,
    tesseract_command,
    tesseract_env,
)
from parcelflow.documents.pdf import normalize_text_layer, render_scale
from parcelflow.errors import PermanentError

DAKOTA_SPREAD = (13728, 10381)  # scans/deeds/doc_000000_book_007_page_321.tif


def test_pixels_at_the_limit_pass() -> None:
    check_pixels(1000, 1000, 1_000_000)


def test_pixels_over_the_limit_are_a_decompression_bomb() -> None:
    with pytest.raises(PermanentError) as caught:
        check_pixels(1000, 1001, 1_000_000)
    assert caught.value.code == "decompression_bomb"
    assert "1000x1001" in caught.value.message


def test_default_limit_admits_the_real_142_mpx_record_book_spread() -> None:
    check_pixels(*DAKOTA_SPREAD, DEFAULT_MAX_PIXELS)


def test_default_limit_refuses_a_50k_square_header() -> None:
    with pytest.raises(PermanentError):
        check_pixels(50_000, 50_000, DEFAULT_MAX_PIXELS)


def test_ordinary_scans_are_not_reduced() -> None:
    assert reduction_factor(3808, 4720) == 1  # Milwaukee deed, 300 dpi
    assert reduction_factor(5100, 6600) == 1  # 17x22 in at 300 dpi


def test_the_142_mpx_spread_is_halved() -> None:
    assert reduction_factor(*DAKOTA_SPREAD) == 2


@pytest.mark.parametrize(("width", "height"), [(20_000, 20_000), (40_001, 1_000), (9_999, 7_777)])
def test_reduced_size_always_fits_the_target(width: int, height: int) -> None:
    factor = reduction_factor(width, height, OCR_MAX_PIXELS)
    assert math.ceil(width / factor) * math.ceil(height / factor) <= OCR_MAX_PIXELS
    assert factor == 1 or (
        math.ceil(width / (factor - 1)) * math.ceil(height / (factor - 1)) > OCR_MAX_PIXELS
    )


def test_tesseract_command_reads_stdin_writes_stdout() -> None:
    assert tesseract_command("tesseract", lang="eng", dpi=None) == [
        "tesseract",
        "stdin",
        "stdout",
        "-l",
        "eng",
    ]


def test_tesseract_command_passes_a_known_dpi() -> None:
    command = tesseract_command("t", lang="eng+spa", dpi=150)
    assert command == ["t", "stdin", "stdout", "-l", "eng+spa", "--dpi", "150"]


def test_tesseract_env_pins_openmp_to_one_thread_and_keeps_the_rest() -> None:
    env = tesseract_env({"PATH": "/usr/bin", "OMP_THREAD_LIMIT": "8"})
    assert env == {"PATH": "/usr/bin", "OMP_THREAD_LIMIT": "1"}


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image


def test_bilevel_pages_go_out_as_lossless_g4_tiff() -> None:
    page = Image.new("1", (64, 32), 1)
    page.putpixel((3, 5), 0)
    data = encode_for_tesseract(page)
    assert data.startswith(b"II*\x00")
    assert decoded(data).tobytes() == page.tobytes()


def test_gray_pages_go_out_as_lossless_png() -> None:
    page = Image.linear_gradient("L").resize((64, 64))
    data = encode_for_tesseract(page)
    assert data.startswith(b"\x89PNG")
    assert decoded(data).tobytes() == page.tobytes()


def test_colour_pages_go_out_gray() -> None:
    assert decoded(encode_for_tesseract(Image.new("RGB", (4, 4), (255, 0, 0)))).mode == "L"


def test_render_scale_is_300_dpi_for_a_letter_page() -> None:
    assert render_scale(612, 792) == pytest.approx(300 / 72)


def test_render_scale_is_capped_for_a_giant_page() -> None:
    # PDF allows 14,400-unit (200 in) pages: 3.6 Gpx at 300 dpi.
    scale = render_scale(14_400, 14_400, max_pixels=OCR_MAX_PIXELS)
    assert (14_400 * scale) ** 2 == pytest.approx(OCR_MAX_PIXELS)


def test_pdfium_text_quirks_are_normalised() -> None:
    raw = "non\ufffeconformance\r\nBase\xa0Rent\x00"
    assert normalize_text_layer(raw) == "non-conformance\nBase Rent"

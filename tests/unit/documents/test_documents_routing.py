"""Per-page routing: text-layer quality measures and the decisions made from them."""

from __future__ import annotations

import pytest

from parcelflow.documents.model import Page
from parcelflow.documents.reader import (
    MAX_JUNK_SHARE,
    MIN_CHARS_PER_SQ_INCH,
    TextQuality,
    judge_text_layer,
    junk_share,
    main_engine,
    measure_text,
    read_document,
    route_page,
    visible_chars,
)
from parcelflow.errors import ConfigError, PermanentError

LETTER_SQ_IN = 8.5 * 11


def quality(chars: int = 3000, density: float = 30.0, junk: float = 0.0) -> TextQuality:
    return TextQuality(chars=chars, chars_per_sq_in=density, junk_share=junk)


def test_visible_chars_ignores_every_kind_of_whitespace() -> None:
    assert visible_chars(" a\tb\nc\fd\u00a0e ") == 5


def test_junk_share_of_clean_text_is_zero() -> None:
    assert junk_share("The Tenant shall pay Base Rent monthly.\n\tSection 2.1") == 0.0


def test_junk_share_of_empty_text_is_zero() -> None:
    assert junk_share(" \n ") == 0.0


def test_junk_share_counts_every_character_of_cid_sequences() -> None:
    text = "(cid:12)(cid:7) ab"  # 15 junk characters, 2 good ones
    assert junk_share(text) == pytest.approx(15 / 17)


@pytest.mark.parametrize("junk", ["\ufffd", "\ue000", "\uf0b7", "\x01", "\x7f", "\x9c"])
def test_junk_share_counts_replacement_private_use_and_control_chars(junk: str) -> None:
    assert junk_share(f"abc{junk}") == pytest.approx(1 / 4)


def test_junk_share_does_not_count_whitespace_controls() -> None:
    assert junk_share("a\tb\nc\rd\fe\x0bf") == 0.0


def test_measure_text_computes_density_over_area() -> None:
    measured = measure_text("x" * 935, LETTER_SQ_IN)
    assert measured.chars == 935
    assert measured.chars_per_sq_in == pytest.approx(10.0)
    assert measured.junk_share == 0.0


def test_measure_text_on_zero_area_page_has_zero_density() -> None:
    assert measure_text("abc", 0.0).chars_per_sq_in == 0.0


def test_quality_as_dict_is_json_friendly_and_rounded() -> None:
    record = TextQuality(chars=10, chars_per_sq_in=1.23456, junk_share=0.123456).as_dict()
    assert record == {"chars": 10, "chars_per_sq_in": 1.23, "junk_share": 0.1235}


def test_no_characters_means_no_text_layer() -> None:
    assert judge_text_layer(quality(chars=0, density=0.0)) == "no_text_layer"


def test_junk_above_threshold_is_junk_text() -> None:
    assert judge_text_layer(quality(junk=MAX_JUNK_SHARE + 0.01)) == "junk_text"


def test_junk_at_threshold_is_still_trusted() -> None:
    assert judge_text_layer(quality(junk=MAX_JUNK_SHARE)) == "text_layer_ok"


def test_junk_wins_over_sparse() -> None:
    assert judge_text_layer(quality(chars=5, density=0.1, junk=0.5)) == "junk_text"


def test_density_just_below_threshold_is_sparse() -> None:
    verdict = judge_text_layer(quality(chars=90, density=MIN_CHARS_PER_SQ_INCH - 0.01))
    assert verdict == "sparse_text"


def test_density_at_threshold_is_ok() -> None:
    assert judge_text_layer(quality(chars=94, density=MIN_CHARS_PER_SQ_INCH)) == "text_layer_ok"


def test_stamp_only_scan_page_is_sparse() -> None:
    # A recorder's stamp line on an otherwise image-only Letter page.
    stamp = "Doc No 2019-004512 Recorded 03/04/2019 Page 1 of 3"
    assert judge_text_layer(measure_text(stamp, LETTER_SQ_IN)) == "sparse_text"


@pytest.mark.parametrize(
    ("verdict_quality", "expected"),
    [
        (quality(), ("text", "text_layer_ok")),
        (quality(chars=0, density=0.0), ("ocr", "no_text_layer")),
        (quality(chars=40, density=0.4), ("ocr", "sparse_text")),
        (quality(junk=0.5), ("ocr", "junk_text")),
    ],
)
def test_auto_mode_follows_the_verdict(
    verdict_quality: TextQuality, expected: tuple[str, str]
) -> None:
    assert route_page(verdict_quality, "auto") == expected


def test_always_mode_ocrs_a_good_page_and_keeps_the_verdict() -> None:
    assert route_page(quality(), "always") == ("ocr", "text_layer_ok")


def test_never_mode_keeps_a_missing_layer_and_keeps_the_verdict() -> None:
    assert route_page(quality(chars=0, density=0.0), "never") == ("text", "no_text_layer")


def test_main_engine_is_the_one_with_most_characters() -> None:
    pages = [Page(1, "short", "pdf-text"), Page(2, "a much longer page of text", "ocr")]
    assert main_engine(pages) == "ocr"


def test_main_engine_tie_goes_to_first_page() -> None:
    pages = [Page(1, "", "pdf-text"), Page(2, "", "ocr")]
    assert main_engine(pages) == "pdf-text"


def test_invalid_ocr_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        read_document(b"text", ocr="sometimes")  # type: ignore[arg-type]
    assert caught.value.code == "invalid_option"


def test_non_positive_max_pixels_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        read_document(b"text", max_pixels=0)


def test_empty_bytes_are_rejected_as_empty() -> None:
    with pytest.raises(PermanentError) as caught:
        read_document(b"")
    assert caught.value.code == "empty"


def test_binary_garbage_is_unsupported() -> None:
    with pytest.raises(PermanentError) as caught:
        read_document(bytes(range(256)) * 4)
    assert caught.value.code == "unsupported_type"


def test_ole2_file_is_unsupported_with_a_hint() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    with pytest.raises(PermanentError) as caught:
        read_document(ole2)
    assert caught.value.code == "unsupported_type"
    assert "DOCX or PDF" in caught.value.message

"""Zip-bomb checks on central-directory entries of generated in-memory archives."""

from __future__ import annotations

import io
import zipfile

import pytest

from parcelflow.documents.docx import (
    MAX_COMPRESSION_RATIO,
    MAX_MEMBERS,
    MAX_UNCOMPRESSED_BYTES,
    RATIO_FLOOR_BYTES,
    check_zip_limits,
    compression_ratio,
    open_zip,
)
from parcelflow.errors import PermanentError

MIB = 1024 * 1024


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def infos(data: bytes) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.infolist()


def declared(name: str, file_size: int, compress_size: int) -> zipfile.ZipInfo:
    """A central-directory entry as a hostile archive could declare it."""
    info = zipfile.ZipInfo(name)
    info.file_size = file_size
    info.compress_size = compress_size
    return info


def test_an_ordinary_docx_like_archive_passes() -> None:
    xml = b"<w:p><w:r><w:t>The Tenant shall pay rent.</w:t></w:r></w:p>" * 2000
    check_zip_limits(infos(make_zip({"word/document.xml": xml, "[Content_Types].xml": b"<x/>"})))


def test_a_small_zip_with_a_huge_compressible_member_is_a_bomb() -> None:
    data = make_zip({"word/document.xml": b"<w:document/>", "word/media/x.bin": bytes(16 * MIB)})
    assert len(data) < 64 * 1024  # 16 MiB of zeros deflates ~1000:1
    with pytest.raises(PermanentError) as caught:
        check_zip_limits(infos(data))
    assert caught.value.code == "zip_bomb"
    assert "word/media/x.bin" in caught.value.message


def test_the_ratio_test_skips_members_below_the_floor() -> None:
    data = make_zip({"word/settings.xml": bytes(RATIO_FLOOR_BYTES)})
    (member,) = infos(data)
    assert compression_ratio(member) > MAX_COMPRESSION_RATIO
    check_zip_limits([member])


def test_ratio_exactly_at_the_limit_passes() -> None:
    compressed = 10_000
    size = compressed * MAX_COMPRESSION_RATIO
    assert size > RATIO_FLOOR_BYTES
    check_zip_limits([declared("a.xml", size, compressed)])


def test_ratio_just_over_the_limit_is_a_bomb() -> None:
    compressed = 10_000
    with pytest.raises(PermanentError):
        check_zip_limits([declared("a.xml", compressed * MAX_COMPRESSION_RATIO, compressed - 1)])


def test_total_declared_size_over_the_limit_is_a_bomb_even_at_low_ratios() -> None:
    members = [declared(f"m{i}.bin", 100 * MIB, 50 * MIB) for i in range(3)]
    assert sum(m.file_size for m in members) > MAX_UNCOMPRESSED_BYTES
    with pytest.raises(PermanentError) as caught:
        check_zip_limits(members)
    assert caught.value.code == "zip_bomb"


def test_too_many_members_is_a_bomb() -> None:
    members = [declared(f"m{i}", 1, 1) for i in range(MAX_MEMBERS + 1)]
    with pytest.raises(PermanentError) as caught:
        check_zip_limits(members)
    assert "members" in caught.value.message


def test_stored_member_ratio_is_one() -> None:
    (member,) = infos(make_zip({"a.bin": bytes(1000)}, method=zipfile.ZIP_STORED))
    assert compression_ratio(member) == 1.0


def test_empty_compressed_member_does_not_divide_by_zero() -> None:
    assert compression_ratio(declared("empty", 0, 0)) == 0.0


def test_bytes_that_are_no_zip_are_not_zip() -> None:
    with pytest.raises(PermanentError) as caught:
        open_zip(b"%PDF-1.7 not a zip at all")
    assert caught.value.code == "not_zip"


def test_a_truncated_zip_is_corrupt() -> None:
    data = make_zip({"word/document.xml": b"<w:document/>" * 100})
    with pytest.raises(PermanentError) as caught:
        open_zip(data[: len(data) // 2])
    assert caught.value.code == "corrupt"

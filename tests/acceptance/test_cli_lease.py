"""``parcelflow run lease`` / ``export leases`` / ``show`` as a user runs them.

One batch mixes a real lease as text, PDF, DOCX and HTML, two real non-lease
contracts, and every kind of bad input; the bad input is rejected with its
reason, the non-leases quarantined, and the leases committed with the
contract's fields.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Cli, explain

CONTRACT_FIELDS = {
    "job_id", "source", "sha256", "landlord", "tenant", "premises_address",
    "rentable_square_feet", "lease_date", "commencement_date", "expiration_date",
    "commencement_rule", "expiration_rule", "term_months", "base_rent_initial_monthly",
    "base_rent_initial_annual", "rent_per_sf_annual", "rent_schedule", "security_deposit",
    "security_deposit_form", "renewal_options", "permitted_use", "governing_law", "currency",
    "confidence", "evidence", "engine",
}  # fmt: skip
LEASE = "EX-10.3_PNK-S2-LLC_Purple-Innovation-LLC_lease.txt"
NON_LEASES = (
    "MEDALISTDIVERSIFIEDREIT,INC_05_18_2020-EX-10.1-CONSULTING AGREEMENT.txt",
    "CCAINDUSTRIESINC_04_14_2014-EX-10.1-OUTSOURCING AGREEMENT.txt",
)


def _pdf(text: str, *, password: str | None = None) -> bytes:
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    encrypt = StandardEncryption(password, canPrint=0) if password else None
    pdf = canvas.Canvas(buffer, pagesize=letter, encrypt=encrypt)
    lines = [part for line in text.splitlines() for part in _wrap(line, 95)]
    for start in range(0, len(lines), 60):
        for row, line in enumerate(lines[start : start + 60]):
            pdf.drawString(40, 750 - 12 * row, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _wrap(line: str, width: int) -> list[str]:
    words, out, current = line.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*out, current] if current else [""]


def _docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    for block in text.split("\n\n"):
        document.add_paragraph(" ".join(block.split()))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * 300_000_000)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _huge_png() -> bytes:
    """A well-formed PNG of a few bytes whose header claims 60,000 x 60,000 pixels."""
    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def lease_text(shared_data: Path) -> str:
    return (shared_data / "leases" / "edgar_ultradomain" / LEASE).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, lease_text: str) -> Path:
    folder = tmp_path_factory.mktemp("leases")
    (folder / "lease.txt").write_text(lease_text, encoding="utf-8")
    (folder / "lease.pdf").write_bytes(_pdf(f"Rendered copy\n{lease_text}"))
    (folder / "lease.docx").write_bytes(_docx(f"Word copy\n\n{lease_text}"))
    body = html.escape(f"HTML copy\n{lease_text}")
    (folder / "lease.htm").write_text(f"<html><body><pre>{body}</pre></body></html>")
    cuad = shared_data / "leases" / "cuad_subset" / "txt"
    for index, name in enumerate(NON_LEASES):
        (folder / f"contract{index}.txt").write_bytes((cuad / name).read_bytes())
    bad = {
        "encrypted.pdf": _pdf("LEASE between A and B", password="secret"),
        "truncated.pdf": _pdf("LEASE between A and B")[:600],
        "empty.pdf": b"",
        "bomb.docx": _zip_bomb(),
        # Zip magic bytes, then garbage: a DOCX that is not a zip at all.
        "notzip.docx": b"PK\x03\x04" + bytes(range(200)),
        "huge.png": _huge_png(),
        "binary.bin": bytes(range(256)) * 8,
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def ran(batch_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, dict[str, Any]]:
    cli = Cli(tmp_path_factory.mktemp("run"))
    done = cli("run", "lease", str(batch_dir), "--json", timeout=300)
    assert done.returncode == 1, explain(done)  # quarantined and rejected jobs: exit 1
    return cli, json.loads(done.stdout)


def test_leases_commit_in_every_format_and_bad_input_is_rejected(
    ran: tuple[Cli, dict[str, Any]],
) -> None:
    cli, summary = ran
    assert (summary["committed"], summary["quarantined"], summary["total"]) == (4, 2, 13)
    states = {Path(j["source"]).name: (j["state"], j["reason_code"]) for j in cli.jobs()}
    assert states["contract0.txt"] == ("quarantined", "not_a_lease")
    assert states["contract1.txt"] == ("quarantined", "not_a_lease")
    expected_rejections = {
        "encrypted.pdf": "encrypted",
        "truncated.pdf": "corrupt",
        "empty.pdf": "empty",
        "bomb.docx": "zip_bomb",
        "notzip.docx": "corrupt",
        "huge.png": "decompression_bomb",
        "binary.bin": "unsupported_type",
    }
    for name, code in expected_rejections.items():
        assert states[name] == ("rejected", code), (name, states[name])


def test_export_has_the_contract_fields_and_true_evidence(
    ran: tuple[Cli, dict[str, Any]], batch_dir: Path
) -> None:
    cli, _ = ran
    leases = {Path(row["source"]).name: row for row in cli.export("leases")}
    assert set(leases) == {"lease.txt", "lease.pdf", "lease.docx", "lease.htm"}
    engines = {name: row["engine"] for name, row in leases.items()}
    assert engines == {
        "lease.txt": "text",
        "lease.pdf": "pdf-text",
        "lease.docx": "docx",
        "lease.htm": "html",
    }
    for name, row in leases.items():
        assert set(row) >= CONTRACT_FIELDS, CONTRACT_FIELDS - set(row)
        assert row["sha256"] == hashlib.sha256((batch_dir / name).read_bytes()).hexdigest()
        assert row["landlord"] and row["tenant"]
        assert all(0.0 <= score <= 1.0 for score in row["confidence"].values())
        assert {"page", "text"} <= set(row["evidence"]["landlord"])
    plain = leases["lease.txt"]
    text = " ".join((batch_dir / "lease.txt").read_text(encoding="utf-8").split())
    for field, evidence in plain["evidence"].items():
        assert " ".join(evidence["text"].split()) in text, field
    same = ("landlord", "tenant", "rentable_square_feet", "term_months", "security_deposit")
    for name in ("lease.pdf", "lease.docx", "lease.htm"):
        assert {f: leases[name][f] for f in same} == {f: plain[f] for f in same}, name
    csv_done = cli("export", "leases", "--format", "csv")
    assert csv_done.returncode == 0 and csv_done.stdout.splitlines()[0].startswith("job_id,")


def test_show_prints_fields_with_evidence(ran: tuple[Cli, dict[str, Any]]) -> None:
    cli, _ = ran
    job = cli.job_by_name("lease.txt")
    done = cli("show", str(job["id"]), "--json")
    assert done.returncode == 0, explain(done)
    shown = json.loads(done.stdout)
    (record,) = shown["records"]
    assert record["collection"] == "leases"
    assert record["fields"]["landlord"]
    assert shown["notes"]["routing"][0]["decision"] == "text"
    table = cli("show", str(job["id"]))
    assert record["fields"]["landlord"].split()[0] in table.stdout and "evidence" in table.stdout


def test_rerun_commits_nothing_new(ran: tuple[Cli, dict[str, Any]], batch_dir: Path) -> None:
    cli, _ = ran
    again = cli("run", "lease", str(batch_dir), "--json", "--batch", "again", timeout=300)
    summary = json.loads(again.stdout)
    assert (summary["committed"], summary["duplicate"]) == (0, 4), summary
    assert len(cli.export("leases")) == 4


def test_min_confidence_quarantines_and_is_validated(tmp_path: Path, lease_text: str) -> None:
    cli = Cli(tmp_path)
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "lease.txt").write_text(lease_text, encoding="utf-8")
    strict = cli("run", "lease", str(tmp_path / "one"), "--min-confidence", "0.99", "--json")
    assert json.loads(strict.stdout)["quarantined"] == 1, explain(strict)
    assert cli.jobs()[0]["reason_code"] == "low_confidence"
    bad = cli("run", "lease", str(tmp_path / "one"), "--min-confidence", "2")
    assert bad.returncode == 2 and bad.stderr.startswith("parcelflow: error:"), explain(bad)


def test_scanned_pdf_is_routed_to_ocr_only_when_allowed(tmp_path: Path, shared_data: Path) -> None:
    scan = shared_data / "scans" / "deeds" / "mn_stearns-SSLMKonica23091509280.pdf"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "scan.pdf").write_bytes(scan.read_bytes())
    never = Cli(tmp_path / "never")
    never.root.mkdir()
    done = never("run", "lease", str(tmp_path / "in"), "--ocr", "never", "--json")
    assert json.loads(done.stdout)["committed"] == 0, explain(done)
    auto = Cli(tmp_path / "auto")
    auto.root.mkdir()
    auto("run", "lease", str(tmp_path / "in"), "--json", timeout=300)
    (job,) = auto.jobs()
    decisions = {(r["decision"], r["reason"]) for r in job["notes"]["routing"]}
    assert ("ocr", "no_text_layer") in decisions, job["notes"]
    assert job["state"] in ("committed", "quarantined")  # a deed, not a lease: quarantined

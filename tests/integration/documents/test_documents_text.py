"""Plain-text documents from the shared data set, read through the entry point."""

from __future__ import annotations

from pathlib import Path

from parcelflow.documents.reader import read_document

HALSTED = "EX-10.1_2430-N-Halsted-LLC_Exicure-Inc_lease.txt"


def test_an_edgar_lease_text_is_one_text_page(data_dir: Path) -> None:
    path = data_dir / "leases" / "edgar_ultradomain" / HALSTED
    document = read_document(path.read_bytes())
    assert document.engine == "text"
    (page,) = document.pages
    assert page.text.startswith("Exhibit 10.1")
    assert "2430 N. HALSTED, LLC" in page.text
    (record,) = document.routing
    assert record["chars"] > 100_000
    assert record == {
        "page": 1,
        "decision": "text",
        "reason": "native_text",
        "mode": "auto",
        "engine": "text",
        "chars": record["chars"],
    }


def test_every_cuad_text_decodes(data_dir: Path) -> None:
    for path in sorted((data_dir / "leases" / "cuad_subset" / "txt").iterdir()):
        document = read_document(path.read_bytes())
        assert document.engine == "text", path.name
        assert "\ufffd" not in document.text, path.name

"""Fixtures for the document-reader integration tests: real data, real engines.

The data is the team's shared set of real public documents, kept next to the repository
(``<repo>/../shared/data``, see its README.md and PROVENANCE.md files).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA.resolve()} (../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def deeds(data_dir: Path) -> Path:
    """Scanned county land records (TIFF G4, multi-page TIFF, scanned PDFs)."""
    return data_dir / "scans" / "deeds"


@pytest.fixture(scope="session")
def cuad(data_dir: Path) -> Path:
    """CUAD exhibit contracts: original text-layer PDFs and their published text."""
    return data_dir / "leases" / "cuad_subset"


@pytest.fixture(scope="session")
def tesseract() -> str:
    path = shutil.which("tesseract")
    if path is None:
        pytest.skip("tesseract not installed (apt-get install tesseract-ocr)")
    return path

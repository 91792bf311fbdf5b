"""Lease pipeline speed on text-layer PDFs, next to its ceiling and a plain script.

In one run, over the same corpus (text-layer PDFs rendered from the real EDGAR
lease texts, several distinct copies of each):

* end to end: ``parcelflow run lease`` (classification, extraction, validation,
  commit, audit) with 2 processes, pages per second;
* the ceiling: pypdfium2 text extraction alone over the same files in a
  2-process pool;
* the baseline: a plain sequential pdfplumber-plus-regex script.

Targets (issue #3): end to end at least 50% of the ceiling, and at least 20
times the plain script. OCR throughput is measured by ``bench/ocr_speed.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import fresh_db, scratch
from lease_accuracy import render_pdf

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LEASES = DATA / "leases" / "edgar_ultradomain"
_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"landlord[:\s]+([A-Z][\w.,&' -]{3,80})",
        r"tenant[:\s]+([A-Z][\w.,&' -]{3,80})",
        r"\$\s?[\d,]+(?:\.\d{2})?",
        r"(?:January|February|March|April|May|June|July|August|September|October|November"
        r"|December)\s+\d{1,2},\s+\d{4}",
        r"([\d,]+)\s+rentable\s+square\s+feet",
    )
]


def build_corpus(copies: int) -> Path:
    """``copies`` distinct PDFs of each real lease (a copy number on the first line)."""
    folder = scratch(f"lease-pdfs-{copies}")
    texts = sorted(LEASES.glob("*.txt"))
    for text_path in texts:
        text = text_path.read_text(encoding="utf-8", errors="replace")
        for copy in range(copies):
            target = folder / f"{text_path.stem[:40]}-copy{copy}.pdf"
            if not target.exists():
                render_pdf(f"Portfolio copy {copy}\n{text}", target)
    return folder


def _pdfium_pages(path: Path) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
        return len(pdf)
    finally:
        pdf.close()


def ceiling(files: list[Path]) -> tuple[int, float]:
    """pypdfium2 text extraction alone, 2 processes."""
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        pages = sum(pool.map(_pdfium_pages, files, chunksize=1))
    return pages, time.perf_counter() - start


def plain_script(files: list[Path]) -> tuple[int, float]:
    """The baseline: pdfplumber page by page, then regular expressions, one file at a time."""
    import pdfplumber

    start = time.perf_counter()
    pages = 0
    for path in files:
        with pdfplumber.open(path) as pdf:
            for page in pdf.pages:
                text = page.extract_text() or ""
                for pattern in _PATTERNS:
                    pattern.findall(text)
                pages += 1
    return pages, time.perf_counter() - start


def end_to_end(folder: Path) -> dict[str, object]:
    db = scratch("db") / "lease-speed.db"
    fresh_db(db)
    cmd = [
        sys.executable,
        "-m",
        "parcelflow.interfaces.cli",
        "run",
        "lease",
        str(folder),
        "--db",
        f"sqlite:///{db}",
        "--processes",
        "2",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"parcelflow run failed ({done.returncode}): {done.stderr[-500:]}")
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="distinct copies of each lease")
    parser.add_argument(
        "--plain-files", type=int, default=3, help="files the (slow) pdfplumber script reads"
    )
    args = parser.parse_args()
    if not LEASES.is_dir():
        raise SystemExit(f"no real leases at {LEASES}: check out shared/ beside the repository")
    folder = build_corpus(args.copies)
    files = sorted(folder.glob("*.pdf"))
    pages, seconds = ceiling(files)
    ceiling_rate = pages / seconds
    summary = end_to_end(folder)
    e2e_rate = pages / float(summary["elapsed_s"])  # type: ignore[arg-type]
    plain_pages, plain_seconds = plain_script(files[: args.plain_files])
    plain_rate = plain_pages / plain_seconds
    print(f"corpus                   {len(files)} PDFs, {pages:,} pages")
    print(
        f"outcome                  committed {summary['committed']}, "
        f"quarantined {summary['quarantined']}, rejected {summary['rejected']}"
    )
    print(f"ceiling (pypdfium2, 2p)  {ceiling_rate:,.1f} pages/s")
    print(f"parcelflow end to end    {e2e_rate:,.1f} pages/s")
    print(f"plain pdfplumber+regex   {plain_rate:,.1f} pages/s ({plain_pages} pages)")
    print(f"end to end / ceiling     {e2e_rate / ceiling_rate:.2f}   (target >= 0.50)")
    print(f"end to end / plain       {e2e_rate / plain_rate:.1f}x  (target >= 20x)")


if __name__ == "__main__":
    main()

"""Lease abstraction accuracy: the hand-read EDGAR leases as text, PDF and DOCX, plus CUAD.

Run from the repository root::

    python bench/lease_accuracy.py            # tables, gaps, CUAD; exit 1 on a missed target
    python bench/lease_accuracy.py --errors   # also list every wrong or missed value

What it measures:

* ``../shared/data/leases/edgar_ultradomain``: the 7 real leases and their gold
  abstracts. Each lease is abstracted three times through the real reader
  (``parcelflow.documents.reader.read_document``): as the text file, as a PDF rendered
  from that text with reportlab (original page breaks kept, long pages flowing on), and
  as a DOCX built from it with python-docx (one paragraph per text block). Renderings
  live in a temporary directory. PDFs are read with ``ocr="never"``: the renderings
  have a text layer, and this measures the rules, not Tesseract.
* Per field and format: precision (of the values emitted, how many are right) and
  recall (of the gold values, how many were found), scored as
  ``parcelflow.pipelines.leases.evaluation`` describes; the largest gap between formats.
* Every evidence snippet is checked to be an exact substring of the page it names.
* ``../shared/data/leases/cuad_subset``: 21 real non-lease contracts, as text and as
  their original PDFs. All must be recognised as not leases; party and agreement-date
  extraction is scored against the CUAD expert labels (reported, not a target).

Targets (exit status 1 when missed): precision >= 0.95 on every field and recall >= 0.85
on the listed fields, in every format; cross-format gaps <= 0.05; no evidence errors;
every CUAD contract recognised as not a lease.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parcelflow.documents.model import Document
from parcelflow.documents.reader import read_document
from parcelflow.errors import ParcelflowError
from parcelflow.pipelines.leases.abstract import abstract_lease, classify_document
from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.evaluation import (
    DOCUMENT_FIELDS,
    RECALL_FIELDS,
    Scoreboard,
    load_gold,
    normalise_name,
    score_document,
    target_failures,
)
from parcelflow.pipelines.leases.parties import agreement_parties
from parcelflow.pipelines.leases.terms import find_lease_date

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "leases"
LEASES = DATA / "edgar_ultradomain"
CUAD = DATA / "cuad_subset"
FORMATS = ("text", "pdf", "docx")
MAX_GAP = 0.05
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
_PAGE_RULE = re.compile(r"^\s*-{10,}\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- rendering ------------------------------------------------------------------------


def _font() -> str:
    """Register a Unicode TrueType font (curly quotes, §, é) and return its name."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    candidates = [*FONT_CANDIDATES, Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"]
    path = next(p for p in candidates if p.is_file())
    pdfmetrics.registerFont(TTFont("LeaseFont", str(path)))
    return "LeaseFont"


def _source_pages(text: str) -> list[list[str]]:
    """The text's own pages (EDGAR marks page breaks with a line of dashes)."""
    pages: list[list[str]] = [[]]
    for line in _CONTROL.sub(" ", text).splitlines():
        if _PAGE_RULE.match(line):
            pages.append([])
        else:
            pages[-1].append(line.rstrip())
    return [page for page in pages if any(line.strip() for line in page)]


def _wrap(line: str, width: float, measure: Callable[[str], float]) -> Iterator[str]:
    words, current = line.split(" "), ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and measure(candidate) > width:
            yield current
            current = word
        else:
            current = candidate
    yield current


def render_pdf(text: str, path: Path) -> None:
    """Letter pages, 9 pt, the source's page breaks kept and long pages flowing on."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    font, size, leading, margin = _font(), 9, 11, 54
    width, height = letter
    pdf = canvas.Canvas(str(path), pagesize=letter)

    def measure(value: str) -> float:
        return float(stringWidth(value, font, size))

    for page in _source_pages(text):
        y = height - margin
        pdf.setFont(font, size)
        for line in _squeeze_blank(page):
            for piece in _wrap(line, width - 2 * margin, measure):
                if y < margin:
                    pdf.showPage()
                    pdf.setFont(font, size)
                    y = height - margin
                pdf.drawString(margin, y, piece)
                y -= leading
        pdf.showPage()
    pdf.save()


def _squeeze_blank(lines: list[str]) -> Iterator[str]:
    blank = 0
    for line in lines:
        blank = blank + 1 if not line.strip() else 0
        if blank <= 1:
            yield line


def render_docx(text: str, path: Path) -> None:
    """One paragraph per block of lines; a page break where the source had one."""
    import docx

    document = docx.Document()
    for number, page in enumerate(_source_pages(text)):
        if number:
            document.add_page_break()
        for block in re.split(r"\n\s*\n", "\n".join(page)):
            paragraph = " ".join(line.strip() for line in block.splitlines() if line.strip())
            if paragraph:
                document.add_paragraph(paragraph)
    document.save(str(path))


def read_as(form: str, text: str, folder: Path, stem: str) -> Document:
    """The lease as the reader sees it in format ``form``."""
    if form == "text":
        return read_document(text.encode("utf-8"))
    path = folder / f"{stem}.{form}"
    (render_pdf if form == "pdf" else render_docx)(text, path)
    return read_document(path.read_bytes(), ocr="never")


# -- leases ---------------------------------------------------------------------------


@dataclass(slots=True)
class FormatRun:
    """The results of one format."""

    board: Scoreboard = field(default_factory=Scoreboard)
    evidence_errors: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pages: int = 0


def evidence_errors(name: str, document: Document, dumped: dict[str, Any]) -> Iterator[str]:
    """Evidence that does not quote its page exactly."""
    for field_name, evidence in dumped.get("evidence", {}).items():
        page = evidence["page"]
        if not 1 <= page <= len(document.pages):
            yield f"{name}: {field_name} evidence page {page} out of range"
        elif evidence["text"] not in document.pages[page - 1].text:
            yield f"{name}: {field_name} evidence is not on page {page}: {evidence['text'][:60]!r}"


def run_format(form: str, gold: dict[str, dict[str, Any]], folder: Path) -> FormatRun:
    """Abstract every gold lease in format ``form`` and score it."""
    run = FormatRun()
    for name, expected in sorted(gold.items()):
        text = (LEASES / name).read_text(encoding="utf-8")
        document = read_as(form, text, folder, Path(name).stem)
        run.pages += len(document.pages)
        started = time.perf_counter()
        try:
            dumped = abstract_lease(document).model_dump(mode="json")
        except ParcelflowError as exc:
            run.quarantined.append(f"{name}: {exc.code}: {exc.message}")
            dumped = {}
        run.seconds += time.perf_counter() - started
        run.evidence_errors.extend(evidence_errors(name, document, dumped))
        score_document(run.board, name, dumped, expected)
    return run


def _cell(value: float | None) -> str:
    return " n/a" if value is None else f"{value:4.2f}"


def print_tables(runs: dict[str, FormatRun]) -> None:
    """Per-field precision / recall (right/emitted, right/wanted) per format."""
    fields = [*DOCUMENT_FIELDS, "base_rent_initial"]
    header = "".join(f"{form:>26}" for form in runs)
    print(f"{'field':<28}{header}")
    for name in fields:
        cells = []
        for run in runs.values():
            score = run.board.score(name)
            emitted, wanted = score.right + score.wrong, score.right + score.missed
            precision = f"{_cell(score.precision)} ({score.right}/{emitted})"
            cells.append(f"{precision} {_cell(score.recall)} ({score.right}/{wanted})")
        marker = "*" if name in RECALL_FIELDS else " "
        print(f"{marker}{name:<27}" + "".join(f"{cell:>26}" for cell in cells))
    print("  (precision (right/emitted) recall (right/wanted); * = recall target field)")
    for form, run in runs.items():
        print(f"  {form}: {run.pages} pages, {run.seconds:.2f} s abstracting")


def gaps(runs: dict[str, FormatRun]) -> list[tuple[str, str, float]]:
    """The largest precision and recall difference across formats, per field."""
    result = []
    for name in [*DOCUMENT_FIELDS, "base_rent_initial"]:
        for measure in ("precision", "recall"):
            values = [getattr(run.board.score(name), measure) for run in runs.values()]
            known = [v for v in values if v is not None]
            if len(known) == len(values) and known:
                result.append((name, measure, max(known) - min(known)))
            elif known:
                result.append((name, measure, 1.0))  # emitted in one format, not another
    return result


# -- CUAD -----------------------------------------------------------------------------


@dataclass(slots=True)
class CuadResult:
    """Non-lease recognition and generic party/date extraction on CUAD."""

    leases: list[str] = field(default_factory=list)
    parties_right: int = 0
    parties_emitted: int = 0
    parties_found: int = 0
    parties_wanted: int = 0
    dates_right: int = 0
    dates_emitted: int = 0
    dates_wanted: int = 0
    errors: list[str] = field(default_factory=list)
    documents: int = 0


_GENERIC_PARTY = {"co", "purchaser", "merchant", "agent", "provider", "client"} | set(
    [
        "franchisee",
        "franchisor",
        "consultant",
        "company",
        "licensee",
        "you",
        "we",
        "us",
        "our",
        "your",
        "party",
        "parties",
        "and",
    ]
)


def gold_parties(answer: str) -> list[str]:
    """Party names from CUAD's ``Parties`` answer (roles, placeholders dropped)."""
    names = []
    answer = answer.strip()
    if answer.startswith("(") and answer.endswith(")"):
        answer = answer[1:-1]  # one label wraps its whole answer in parentheses
    for part in _split_outside_parens(answer):
        name = re.sub(r"\([^)]*\)|\"[^\"]*\"|[“”][^“”]*[“”]", " ", part)
        name = " ".join(name.split()).strip(" ,;")
        words = normalise_name(name).split()
        if (
            name[:1].isupper()
            and len(words) >= 2
            and not set(words) <= _GENERIC_PARTY
            and "[]" not in name
            and "_" not in name
        ):
            names.append(name)
    return names


def _split_outside_parens(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == ";" and depth <= 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _same_party(predicted: str, expected: str) -> bool:
    mine, gold = normalise_name(predicted), normalise_name(expected)
    if mine.replace(" ", "") == gold.replace(" ", ""):
        return True  # a label typo such as "inpossession"
    prefix = mine.startswith(gold + " ") or gold.startswith(mine + " ")
    return len(gold.split()) >= 2 and prefix


def gold_date(answer: str) -> dt.date | None:
    """CUAD's ``M/D/YY`` agreement date; ``None`` for blanks (``[]/[]/19[]``)."""
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", answer.strip())
    if match is None:
        return None
    month, day, year = (int(g) for g in match.groups())
    year += 0 if year >= 100 else (1900 if year >= 50 else 2000)
    return dt.date(year, month, day)


def run_cuad(ocr: str) -> dict[str, CuadResult]:
    """Every CUAD contract as text and as its original PDF."""
    labels = json.loads((CUAD / "labels.json").read_text(encoding="utf-8"))
    results = {"text": CuadResult(), "pdf": CuadResult()}
    for name, entry in sorted(labels.items()):
        categories = entry["categories"]
        for form, file_key in (("text", "txt_file"), ("pdf", "pdf_file")):
            document = read_document((CUAD / entry[file_key]).read_bytes(), ocr=ocr)  # type: ignore[arg-type]
            _score_cuad(results[form], name, document, categories)
    return results


def _score_cuad(
    result: CuadResult, name: str, document: Document, categories: dict[str, Any]
) -> None:
    result.documents += 1
    verdict = classify_document(document)
    if verdict.is_lease:
        result.leases.append(f"{name}: {verdict.reason}")
    corpus = Corpus(document)
    predicted = [party.name for party in agreement_parties(corpus)]
    expected = gold_parties(categories["Parties"]["answer"])
    result.parties_emitted += len(predicted)
    result.parties_right += sum(1 for p in predicted if any(_same_party(p, g) for g in expected))
    result.parties_wanted += len(expected)
    result.parties_found += sum(1 for g in expected if any(_same_party(p, g) for p in predicted))
    for party in predicted:
        if not any(_same_party(party, g) for g in expected):
            result.errors.append(f"{name}: party {party!r} not in {expected}")
    for party in expected:
        if not any(_same_party(p, party) for p in predicted):
            result.errors.append(f"{name}: party {party!r} missed")
    _score_cuad_date(result, name, corpus, categories)


def _score_cuad_date(
    result: CuadResult, name: str, corpus: Corpus, categories: dict[str, Any]
) -> None:
    found = find_lease_date(corpus)
    expected = gold_date(categories["Agreement Date"]["answer"])
    effective = gold_date(categories["Effective Date"]["answer"])
    result.dates_wanted += expected is not None
    if found is None:
        return
    result.dates_emitted += 1
    if found.value in (expected, effective):
        result.dates_right += 1
    else:
        result.errors.append(
            f"{name}: date {found.value} vs agreement {expected} / effective {effective}"
        )


def _ratio(right: int, total: int) -> str:
    return "n/a" if total == 0 else f"{right / total:.2f} ({right}/{total})"


def print_cuad(results: dict[str, CuadResult], show_errors: bool) -> None:
    """CUAD non-lease recognition and party/date figures per format."""
    for form, result in results.items():
        recognised = result.documents - len(result.leases)
        print(
            f"  {form:<5} not-a-lease {recognised}/{result.documents}  "
            f"parties P {_ratio(result.parties_right, result.parties_emitted)} "
            f"R {_ratio(result.parties_found, result.parties_wanted)}  "
            f"agreement date P {_ratio(result.dates_right, result.dates_emitted)} "
            f"R {_ratio(result.dates_right, result.dates_wanted)}"
        )
        for line in result.leases + (result.errors if show_errors else []):
            print(f"      {line}")


# -- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--errors", action="store_true", help="list every wrong or missed value")
    parser.add_argument("--no-cuad", action="store_true", help="skip the CUAD non-lease check")
    args = parser.parse_args(argv)
    if not LEASES.is_dir():
        print(f"lease data not found at {LEASES}", file=sys.stderr)
        return 2
    gold = load_gold(LEASES)
    with tempfile.TemporaryDirectory(prefix="lease-bench-") as folder:
        runs = {form: run_format(form, gold, Path(folder)) for form in FORMATS}
    failures = _report_leases(runs, args.errors)
    if not args.no_cuad:
        failures += _report_cuad(args.errors)
    print(
        "\nresult: " + ("all targets met" if not failures else f"{len(failures)} target(s) missed")
    )
    for failure in failures:
        print(f"  MISSED {failure}")
    return 1 if failures else 0


def _report_leases(runs: dict[str, FormatRun], show_errors: bool) -> list[str]:
    print(f"Lease abstraction accuracy on the EDGAR leases in {LEASES.name}\n")
    print_tables(runs)
    failures = []
    for form, run in runs.items():
        failures += [f"{form}: {line}" for line in target_failures(run.board)]
        failures += [f"{form}: evidence: {line}" for line in run.evidence_errors]
        failures += [f"{form}: quarantined {line}" for line in run.quarantined]
        if show_errors and run.board.errors:
            print(f"\n  {form} wrong or missed:")
            for line in run.board.errors:
                print(f"    {line}")
    worst = sorted(gaps(runs), key=lambda item: -item[2])
    print(f"\nCross-format gaps (max - min over {'/'.join(runs)}), largest first:")
    shown = [item for item in worst if item[2] > 0][:6]
    for name, measure, gap in shown:
        print(f"  {name:<28}{measure:<10}{gap:.2f}")
    if not shown:
        print("  none: every field scores the same in every format")
    failures += [
        f"gap {name} {measure} {gap:.2f} > {MAX_GAP}"
        for name, measure, gap in worst
        if gap > MAX_GAP
    ]
    return failures


def _report_cuad(show_errors: bool) -> list[str]:
    if not CUAD.is_dir():
        return [f"CUAD data not found at {CUAD}"]
    ocr = "auto" if shutil.which("tesseract") else "never"
    print(f"\nCUAD non-leases (21 contracts; PDFs read with ocr={ocr}):")
    results = run_cuad(ocr)
    print_cuad(results, show_errors)
    return [
        f"CUAD {form}: {line} classified as a lease"
        for form, r in results.items()
        for line in r.leases
    ]


if __name__ == "__main__":
    sys.exit(main())

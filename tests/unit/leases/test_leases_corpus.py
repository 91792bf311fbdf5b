"""Normalised search text and exact page evidence."""

from __future__ import annotations

from parcelflow.documents.model import Document, Page
from parcelflow.pipelines.leases.corpus import Corpus


def _document(*texts: str) -> Document:
    pages = tuple(Page(number, text, "pdf-text") for number, text in enumerate(texts, start=1))
    return Document(pages, "pdf-text")


def test_whitespace_and_quotes_are_normalised() -> None:
    corpus = Corpus.from_text("the  \u201cPremises\u201d\n  are\tleased \u2013 here")
    assert corpus.text == 'the "Premises" are leased - here'


def test_evidence_quotes_the_original_page_exactly() -> None:
    original = "Security\n   Deposit: \u201cnone\u201d.\nNext item"
    corpus = Corpus.from_text(original)
    start = corpus.text.index("Security")
    end = corpus.text.index("none") + len("none")
    evidence = corpus.evidence(start, end)
    assert evidence.page == 1
    assert evidence.text == "Security\n   Deposit: \u201cnone"
    assert evidence.text in original


def test_evidence_names_the_real_page() -> None:
    corpus = Corpus(_document("Cover page text.", "Intro.\nBase Rent:  $5,000 per month.", "End."))
    start = corpus.text.index("Base Rent")
    evidence = corpus.evidence(start, start + len("Base Rent: $5,000"))
    assert evidence.page == 2
    assert evidence.text == "Base Rent:  $5,000"


def test_evidence_spanning_a_page_break_is_cut_at_the_page_end() -> None:
    corpus = Corpus(_document("first page ends here", "second page"))
    evidence = corpus.evidence(corpus.text.index("ends"), corpus.text.index("page", 20) + 4)
    assert evidence.page == 1
    assert evidence.text == "ends here"


def test_derived_flag_is_carried() -> None:
    corpus = Corpus.from_text("Term: 60 months")
    assert corpus.evidence(0, 4, derived=True).derived

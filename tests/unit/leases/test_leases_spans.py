"""Summary blocks, labelled items and sentence boundaries."""

from __future__ import annotations

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.spans import clause_end, labelled, summary_region

SUMMARY = (
    "OFFICE LEASE. TABLE OF CONTENTS Basic Lease Information 1. "
    "ARTICLE 1 BASIC LEASE INFORMATION "
    "1. Date: June 3, 2021. 2. Landlord: Harbor Point Owner LLC, a Delaware limited "
    "liability company. 3. Premises: Suite 410, containing 5,200 rentable square feet. "
    "4. Security Deposit (Article 9): $18,000.00. 5. Permitted Use: General office use. "
    "6. Base Rent: $15,166.67 per month. ARTICLE 2 PREMISES The Landlord hereby leases."
)


def test_summary_region_skips_the_table_of_contents() -> None:
    corpus = Corpus.from_text(SUMMARY)
    region = summary_region(corpus)
    assert region is not None
    block = corpus.text[region[0] : region[1]]
    assert "Security Deposit (Article 9): $18,000.00" in block
    assert summary_region(Corpus.from_text("Basic Lease Information 1. Premises 2.")) is None


def test_labelled_values_and_their_source() -> None:
    corpus = Corpus.from_text(SUMMARY)
    [deposit] = labelled(corpus, "security deposit")
    assert deposit.text(corpus) == "$18,000.00"
    assert deposit.source == "summary"
    assert corpus.text[deposit.quote_start :].startswith("Security Deposit (Article 9):")


def test_defined_terms_are_labels_too() -> None:
    corpus = Corpus.from_text('"Permitted Use" shall mean research and development. Next.')
    [use] = labelled(corpus, "permitted use")
    assert use.text(corpus) == "research and development"
    assert use.source == "definition"


def test_a_label_ending_a_phrase_is_not_an_item() -> None:
    corpus = Corpus.from_text("Address of Landlord: 1 Main Street. Landlord: Acme Corp")
    spans = labelled(corpus, "landlord")
    assert [s.text(corpus) for s in spans] == ["Acme Corp"]


def test_values_stop_at_the_next_label() -> None:
    corpus = Corpus.from_text("Permitted Uses: Offices only Brokers: None")
    [use] = labelled(corpus, "permitted uses?")
    assert use.text(corpus) == "Offices only"


def test_clause_end_ignores_abbreviations() -> None:
    text = "Acme Holdings, Inc. and 12 N. Main St. Suite 4. Next sentence"
    assert text[: clause_end(text, 0)] == "Acme Holdings, Inc. and 12 N. Main St. Suite 4"


def test_clause_end_can_run_through_enumerations() -> None:
    text = "any lawful use excluding: (i) retail; (ii) medical. Next"
    assert text[: clause_end(text, 0)] == "any lawful use excluding: (i) retail"
    assert text[: clause_end(text, 0, through_semicolons=True)].endswith("(ii) medical")

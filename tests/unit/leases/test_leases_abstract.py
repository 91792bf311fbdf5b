"""The entry point: a small three-page lease end to end, and the quarantine reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from parcelflow.documents.model import Document, Page
from parcelflow.errors import QuarantineError
from parcelflow.pipelines.leases.abstract import abstract_lease, classify_document

PAGE_1 = """OFFICE LEASE

THIS OFFICE LEASE (this \u201cLease\u201d) is made as of June 3, 2021, by and between
HARBOR POINT OWNER, L.L.C., a Delaware limited liability company (\u201cLandlord\u201d),
and BLUE HERON THERAPEUTICS, INC., a Massachusetts corporation (\u201cTenant\u201d).

BASIC LEASE INFORMATION
1. Building: 220 West Lake Avenue, Portland, Oregon 97205.
2. Premises: 4,810 rentable square feet on the third floor, known as Suite 310.
3. Commencement Date: August 1, 2021.
4. Lease Term: Five (5) years.
"""

PAGE_2 = """5. Base Rent:
Period          Annual Base Rent    Monthly Installment
Lease Months 1-12     $144,300.00     $12,025.00
Lease Months 13-60    $148,629.00     $12,385.75
6. Security Deposit: $24,050.00.
7. Permitted Use: General office use.
8. Extension Option: one (1) option to extend the Lease Term for a period of five (5) years.
"""

BODY = (
    "Landlord hereby leases the Premises to Tenant. Tenant shall pay the Base Rent to "
    "Landlord monthly. Landlord shall maintain the Building and Tenant shall maintain the "
    "Premises. "
)
PAGE_3 = BODY * 8 + "This Lease shall be governed by the laws of the State of Oregon."


def _document(*texts: str) -> Document:
    pages = tuple(Page(n, text, "pdf-text") for n, text in enumerate(texts, start=1))
    return Document(pages, "pdf-text")


@pytest.fixture(scope="module")
def lease() -> Document:
    return _document(PAGE_1, PAGE_2, PAGE_3)


def test_fields(lease: Document) -> None:
    abstract = abstract_lease(lease)
    assert abstract.landlord == "HARBOR POINT OWNER, L.L.C."
    assert abstract.tenant == "BLUE HERON THERAPEUTICS, INC."
    assert abstract.premises_address == "Suite 310, 220 West Lake Avenue, Portland, Oregon 97205"
    assert abstract.rentable_square_feet == 4810
    assert abstract.lease_date == dt.date(2021, 6, 3)
    assert abstract.commencement_date == dt.date(2021, 8, 1)
    assert abstract.term_months == 60
    assert abstract.expiration_date == dt.date(2026, 7, 31)
    assert (abstract.base_rent_initial_monthly, abstract.base_rent_initial_annual) == (
        12025.0,
        144300.0,
    )
    assert abstract.rent_schedule is not None and len(abstract.rent_schedule) == 2
    assert abstract.security_deposit == 24050.0 and abstract.security_deposit_form == "cash"
    assert abstract.renewal_options is not None
    assert (abstract.renewal_options.count, abstract.renewal_options.years) == (1, 5)
    assert abstract.permitted_use == "General office use"
    assert abstract.governing_law == "Oregon"
    assert abstract.currency == "USD" and abstract.engine == "pdf-text"


def test_evidence_is_an_exact_snippet_of_its_page(lease: Document) -> None:
    abstract = abstract_lease(lease)
    for field, evidence in abstract.evidence.items():
        page = lease.pages[evidence.page - 1]
        assert evidence.text in page.text, field
    assert abstract.evidence["base_rent_initial_monthly"].page == 2
    assert abstract.evidence["governing_law"].page == 3
    assert abstract.evidence["expiration_date"].derived


def test_confidence_for_every_field_with_evidence(lease: Document) -> None:
    abstract = abstract_lease(lease)
    assert set(abstract.confidence) == set(abstract.evidence)
    assert all(0.0 <= value <= 1.0 for value in abstract.confidence.values())
    assert abstract.overall_confidence() >= 0.6


def test_not_a_lease_is_quarantined() -> None:
    text = "CONSULTING AGREEMENT. Consultant shall advise the Company on strategy. " * 30
    with pytest.raises(QuarantineError) as caught:
        abstract_lease(_document(text))
    assert caught.value.code == "not_a_lease"
    assert not classify_document(_document(text)).is_lease


def test_low_confidence_is_quarantined_with_what_is_missing() -> None:
    with pytest.raises(QuarantineError) as caught:
        abstract_lease(_document(BODY * 10))
    assert caught.value.code == "low_confidence"
    assert "landlord" in caught.value.message and "\n" not in caught.value.message


def test_min_confidence_is_the_callers_choice(lease: Document) -> None:
    with pytest.raises(QuarantineError):
        abstract_lease(lease, min_confidence=0.999)

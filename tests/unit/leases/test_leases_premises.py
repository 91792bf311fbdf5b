"""Premises address (with suite) and rentable area."""

from __future__ import annotations

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.premises import find_premises_address, find_rentable_area, state_of


def test_address_with_suite_from_the_premises_item() -> None:
    corpus = Corpus.from_text(
        "BASIC LEASE INFORMATION 1. Date: June 3, 2021. 2. Building: 220 West Lake Avenue, "
        "Portland, Oregon 97205. 3. Premises: 4,810 rentable square feet on the third floor, "
        "known as Suite 310. 4. Tenant's Address: 9 Pine Road, Suite 100, Salem, Oregon "
        "97301. 5. Base Rent: $12,000.00 per month. 6. Security Deposit: $24,000.00."
    )
    address = find_premises_address(corpus)
    assert address is not None
    assert address.value == "Suite 310, 220 West Lake Avenue, Portland, Oregon 97205"


def test_notice_addresses_are_not_the_premises() -> None:
    corpus = Corpus.from_text(
        "Notices shall be sent to Landlord at 77 Harbor Drive, Miami, Florida 33101, "
        "Attention: Legal."
    )
    assert find_premises_address(corpus) is None


def test_area_of_the_premises_not_the_building() -> None:
    corpus = Corpus.from_text(
        "Landlord leases to Tenant space in the building located at 5 Oak Way, Austin, "
        "Texas, containing 240,000 rentable square feet (the \u201cBuilding\u201d). The "
        "Premises contain 12,450 rentable square feet. Parking: 3 spaces for every 1,000 "
        "rentable square feet."
    )
    area = find_rentable_area(corpus)
    assert area is not None and area.value == 12450


def test_defining_parenthesis_decides_what_the_area_measures() -> None:
    corpus = Corpus.from_text(
        "Such premises consist of the second floor of the Building, containing approximately "
        "8,020 square feet of Rentable Area as shown on Exhibit B (the \u201cPremises\u201d)."
    )
    area = find_rentable_area(corpus)
    assert area is not None and area.value == 8020


def test_state_of_an_address() -> None:
    assert state_of("10 Main Street, Dallas, TX 75201") == "Texas"
    assert state_of("3 K Street NW, Washington, D.C. 20001") == "District of Columbia"
    assert state_of("3 K Street") is None


def test_a_party_located_somewhere_is_not_the_premises() -> None:
    party = Corpus.from_text("Tenant: Acme LLC, located at 100 Main Street, Austin, Texas 78701.")
    assert find_premises_address(party) is None
    premises = Corpus.from_text(
        "Landlord leases to Tenant the premises located at 100 Main Street, Austin, Texas 78701."
    )
    found = find_premises_address(premises)
    assert found is not None and found.value == "100 Main Street, Austin, Texas 78701"

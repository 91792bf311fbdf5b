"""Landlord, tenant and the parties of any contract's opening clause."""

from __future__ import annotations

import pytest

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.parties import (
    agreement_parties,
    clean_name,
    find_landlord,
    find_tenant,
    name_key,
    plausible_name,
)

OPENING = (
    "THIS OFFICE LEASE (this \u201cLease\u201d) is made as of June 3, 2021, by and between "
    "HARBOR POINT OWNER, L.L.C., a Delaware limited liability company (\u201cLandlord\u201d), "
    "and BLUE HERON THERAPEUTICS, INC., a Massachusetts corporation having its principal "
    "office at 12 Elm Street, Cambridge, Massachusetts (\u201cTenant\u201d). WITNESSETH:"
)


def test_opening_clause_names_both_parties() -> None:
    corpus = Corpus.from_text(OPENING)
    landlord, tenant = find_landlord(corpus), find_tenant(corpus)
    assert landlord is not None and landlord.value == "HARBOR POINT OWNER, L.L.C."
    assert tenant is not None and tenant.value == "BLUE HERON THERAPEUTICS, INC."
    assert tenant.evidence.text.endswith("(\u201cTenant\u201d)")


def test_cover_page_roles() -> None:
    corpus = Corpus.from_text(
        "LEASE AGREEMENT BETWEEN RIVERSTONE 12 LP, AS LANDLORD, AND QUILL MEDIA CORP., "
        "AS TENANT DATED MARCH 2, 2015"
    )
    assert find_landlord(corpus).value == "RIVERSTONE 12 LP"  # type: ignore[union-attr]
    assert find_tenant(corpus).value == "QUILL MEDIA CORP."  # type: ignore[union-attr]


def test_summary_labels_and_agreement_boost() -> None:
    corpus = Corpus.from_text(
        OPENING + " BASIC LEASE INFORMATION Landlord: Harbor Point Owner, LLC, a Delaware "
        "limited liability company Tenant: Blue Heron Therapeutics, Inc. Date: June 3, 2021. "
        "Term: 60 months. Base Rent: $10,000.00 per month."
    )
    landlord = find_landlord(corpus)
    assert landlord is not None
    assert landlord.confidence > 0.95  # two places agree (names compared folded)


def test_role_definition_names_a_differently_titled_tenant() -> None:
    corpus = Corpus.from_text(
        '"City" means the City of Riverton, acting by and through its Office of Real '
        'Property, as the tenant under this Lease. "Landlord" means Oak Crest Partners, LLC.'
    )
    tenant = find_tenant(corpus)
    assert tenant is not None
    assert tenant.value == "the City of Riverton, acting by and through its Office of Real Property"
    assert find_landlord(corpus).value == "Oak Crest Partners, LLC"  # type: ignore[union-attr]


def test_unquoted_role_parentheses() -> None:
    corpus = Corpus.from_text(
        "This lease is entered into by and between Trustees of Elm Realty Trust, under "
        "Declaration of Trust dated May 1, 2001 ( Landlord ) and Fernway, Inc. ( Tenant )."
    )
    assert find_landlord(corpus).value == "Trustees of Elm Realty Trust"  # type: ignore[union-attr]
    assert find_tenant(corpus).value == "Fernway, Inc."  # type: ignore[union-attr]


def test_agreement_parties_of_a_non_lease() -> None:
    corpus = Corpus.from_text(
        "This Services Agreement is made as of May 5, 2012 by and between Northwind Labs, "
        'Inc., a Delaware corporation ("Provider"), and Contoso Retail LLC ("Client").'
    )
    assert [p.name for p in agreement_parties(corpus)] == [
        "Northwind Labs, Inc.",
        "Contoso Retail LLC",
    ]


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (
            "ACME, L.L.C., a New Jersey limited liability company, having offices at 1 Main",
            "ACME, L.L.C.",
        ),
        (
            "X CO., a Texas corporation and Y LP, a Texas limited partnership, as Tenants in"
            " Common",
            "X CO. and Y LP, as Tenants in Common",
        ),
        ("Gamma Trust, a Maryland real estate investment trust c/o Gamma Mgmt", "Gamma Trust"),
        ("PNQ Holdings, LLC 400 Oak Street Suite 8", "PNQ Holdings, LLC"),
        ("Delta Partners, L.P., a", "Delta Partners, L.P."),
    ],
)
def test_clean_name_drops_descriptors(raw: str, name: str) -> None:
    assert clean_name(raw) == name


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Acme LLC", True),
        ("Landlord", False),
        ("As listed on the cover page", False),
        ("the individual named on the signature page", False),
        ("____________", False),
    ],
)
def test_plausible_name(name: str, ok: bool) -> None:
    assert plausible_name(name) is ok


def test_name_key_folds_entity_spacing() -> None:
    assert name_key("ACME, L.L.C.") == name_key("Acme LLC")

"""Is it a lease?"""

from __future__ import annotations

from parcelflow.pipelines.leases.classify import classify
from parcelflow.pipelines.leases.corpus import Corpus

LEASE = (
    "OFFICE LEASE. Landlord hereby leases to Tenant and Tenant hereby leases from Landlord "
    "the Premises. Tenant shall pay Landlord Base Rent for the Premises. Landlord shall "
    "maintain the Building; Tenant shall maintain the Premises. "
) * 12


def test_a_lease_is_a_lease() -> None:
    verdict = classify(Corpus.from_text(LEASE))
    assert verdict.is_lease, verdict.reason


def test_a_services_agreement_is_not() -> None:
    text = (
        "SERVICES AGREEMENT. Provider shall deliver the Services to Client. Client shall pay "
        "the Fees. Either party may terminate this Agreement on notice. "
    ) * 15
    verdict = classify(Corpus.from_text(text))
    assert not verdict.is_lease
    assert "landlord/tenant" in verdict.reason


def test_an_equipment_lessor_alone_does_not_make_a_lease() -> None:
    text = ("AGENCY AGREEMENT between Finance Co. (Lessor) and Retail Co. Lessor may appoint "
            "the Company as agent for the equipment. ") * 15  # fmt: skip
    assert not classify(Corpus.from_text(text)).is_lease


def test_a_guaranty_of_a_lease_is_not_a_lease() -> None:
    text = "GUARANTY OF LEASE. " + LEASE
    verdict = classify(Corpus.from_text(text))
    assert not verdict.is_lease
    assert "guaranty" in verdict.reason


def test_too_little_text() -> None:
    verdict = classify(Corpus.from_text("Lease. Landlord. Tenant."))
    assert not verdict.is_lease and "words" in verdict.reason

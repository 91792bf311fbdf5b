"""Validation rules of the lease abstract."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from parcelflow.pipelines.leases.model import Evidence, LeaseAbstract, RentRow


def _abstract(**fields: Any) -> LeaseAbstract:
    return LeaseAbstract(**fields)


def test_expiration_must_follow_commencement() -> None:
    with pytest.raises(ValidationError, match="not after commencement"):
        _abstract(commencement_date=dt.date(2021, 1, 1), expiration_date=dt.date(2020, 12, 31))


def test_monthly_times_twelve_must_match_annual() -> None:
    _abstract(base_rent_initial_monthly=22420.48, base_rent_initial_annual=269045.75)
    with pytest.raises(ValidationError, match="does not match annual"):
        _abstract(base_rent_initial_monthly=1000.0, base_rent_initial_annual=15000.0)


@pytest.mark.parametrize(
    "field", ["security_deposit", "rentable_square_feet", "base_rent_initial_monthly"]
)
def test_amounts_are_not_negative(field: str) -> None:
    with pytest.raises(ValidationError):
        _abstract(**{field: -1.0})


def test_confidence_is_a_probability_for_a_known_field() -> None:
    _abstract(confidence={"landlord": 0.9})
    with pytest.raises(ValidationError):
        _abstract(confidence={"landlord": 1.2})
    with pytest.raises(ValidationError, match="unknown fields"):
        _abstract(confidence={"landlord_name": 0.5})


def test_no_deposit_means_no_amount() -> None:
    with pytest.raises(ValidationError, match="'none'"):
        _abstract(security_deposit=500.0, security_deposit_form="none")


def test_rent_rows_are_ordered() -> None:
    with pytest.raises(ValidationError):
        RentRow(from_month=13, to_month=12)
    with pytest.raises(ValidationError, match="month order"):
        _abstract(
            rent_schedule=[RentRow(from_month=13, to_month=24), RentRow(from_month=1, to_month=12)]
        )


def test_evidence_pages_are_one_based() -> None:
    with pytest.raises(ValidationError):
        Evidence(page=0, text="x")


def test_json_dump_has_the_contract_fields() -> None:
    dumped = _abstract(lease_date=dt.date(2020, 1, 17), landlord="Acme LLC").model_dump(mode="json")
    assert dumped["lease_date"] == "2020-01-17"
    assert dumped["currency"] == "USD" and dumped["security_deposit_form"] == "not_stated"
    assert set(dumped) == {
        "landlord", "tenant", "premises_address", "rentable_square_feet", "lease_date",
        "commencement_date", "expiration_date", "commencement_rule", "expiration_rule",
        "term_months", "base_rent_initial_monthly", "base_rent_initial_annual",
        "rent_per_sf_annual", "rent_schedule", "security_deposit", "security_deposit_form",
        "renewal_options", "permitted_use", "governing_law", "currency", "confidence",
        "evidence", "engine",
    }  # fmt: skip


def test_overall_confidence_counts_missing_core_fields_as_zero() -> None:
    full = {
        "landlord": 1.0, "tenant": 1.0, "premises_address": 1.0, "rentable_square_feet": 1.0,
        "lease_date": 1.0, "term_months": 1.0, "base_rent_initial_monthly": 1.0,
        "security_deposit_form": 1.0, "renewal_options": 1.0,
    }  # fmt: skip
    assert _abstract(confidence=full).overall_confidence() == 1.0
    half = {k: v for k, v in full.items() if k not in ("tenant", "lease_date", "term_months")}
    assert _abstract(confidence=half).overall_confidence() == pytest.approx(6 / 9)

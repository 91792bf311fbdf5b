"""The lease abstract: the validated record a lease document becomes.

Field names are a public contract (``export leases --format jsonl``); the pipeline adds
``job_id``, ``source`` and ``sha256``. A value is ``None`` when the document does not
state it: rules never guess. Values computed from other values (an expiration date from
a fixed commencement date and a term) carry ``derived=True`` in their evidence.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parcelflow.documents.model import Engine

__all__ = [
    "CORE_FIELDS",
    "RENT_TOLERANCE",
    "DepositForm",
    "Evidence",
    "LeaseAbstract",
    "RenewalOption",
    "RentRow",
    "rent_consistent",
]

DepositForm = Literal["cash", "letter_of_credit", "none", "not_stated"]

Amount = Annotated[float, Field(ge=0)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]

CORE_FIELDS: tuple[str, ...] = (
    "landlord",
    "tenant",
    "premises_address",
    "rentable_square_feet",
    "lease_date",
    "term_months",
    "base_rent",
    "security_deposit_form",
    "renewal_options",
)
"""Fields whose confidences make up a lease's overall confidence. ``base_rent`` stands
for whichever of the initial monthly/annual rent is better supported; a field found to
be explicitly absent ("Security Deposit: None") counts as found."""

RENT_TOLERANCE = 0.001
"""Relative slack for monthly x 12 against annual: tables round each installment to the
cent, so 12 x monthly drifts from the annual figure by cents, never by 0.1%."""


def rent_consistent(monthly: float, annual: float) -> bool:
    """Whether ``monthly`` x 12 agrees with ``annual`` within rounding."""
    return abs(monthly * 12 - annual) <= max(1.0, RENT_TOLERANCE * annual)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Strict):
    """Where a value came from.

    Attributes:
        page: 1-based page of the snippet.
        text: the exact snippet, as it appears on that page.
        derived: the value was computed from this (and other) text, not read.
    """

    page: int = Field(ge=1)
    text: str
    derived: bool = False


class RentRow(_Strict):
    """One period of a rent schedule; months are counted from the rent start (month 1)."""

    from_month: int = Field(ge=1)
    to_month: int = Field(ge=1)
    monthly: Amount | None = None
    annual: Amount | None = None
    per_sf: Amount | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.to_month < self.from_month:
            raise ValueError(f"rent row ends (month {self.to_month}) before it starts")
        return self


class RenewalOption(_Strict):
    """Renewal or extension options; ``None`` inside when the option's terms are not in
    the document (e.g. in an exhibit left out of the filing)."""

    count: int | None = Field(default=None, ge=0)
    years: int | float | None = Field(default=None, gt=0)


class LeaseAbstract(_Strict):
    """A validated lease abstract (all contract fields except the job identity)."""

    landlord: str | None = None
    tenant: str | None = None
    premises_address: str | None = None
    rentable_square_feet: Amount | None = None
    lease_date: dt.date | None = None
    commencement_date: dt.date | None = None
    expiration_date: dt.date | None = None
    commencement_rule: str | None = None
    expiration_rule: str | None = None
    term_months: int | None = Field(default=None, ge=1)
    base_rent_initial_monthly: Amount | None = None
    base_rent_initial_annual: Amount | None = None
    rent_per_sf_annual: Amount | None = None
    rent_schedule: list[RentRow] | None = None
    security_deposit: Amount | None = None
    security_deposit_form: DepositForm = "not_stated"
    renewal_options: RenewalOption | None = None
    permitted_use: str | None = None
    governing_law: str | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    confidence: dict[str, Score] = Field(default_factory=dict)
    evidence: dict[str, Evidence] = Field(default_factory=dict)
    engine: Engine = "text"

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        start, end = self.commencement_date, self.expiration_date
        if start is not None and end is not None and end <= start:
            raise ValueError(f"expiration {end} is not after commencement {start}")
        return self

    @model_validator(mode="after")
    def _rent_consistent(self) -> Self:
        monthly, annual = self.base_rent_initial_monthly, self.base_rent_initial_annual
        if monthly is not None and annual is not None and not rent_consistent(monthly, annual):
            raise ValueError(f"monthly rent {monthly} x 12 does not match annual {annual}")
        return self

    @model_validator(mode="after")
    def _deposit_consistent(self) -> Self:
        if self.security_deposit_form == "none" and self.security_deposit:
            raise ValueError("security deposit form is 'none' but an amount is given")
        return self

    @model_validator(mode="after")
    def _keys_are_fields(self) -> Self:
        known = set(type(self).model_fields)
        unknown = (set(self.confidence) | set(self.evidence)) - known
        if unknown:
            raise ValueError(f"confidence/evidence for unknown fields: {sorted(unknown)}")
        return self

    @model_validator(mode="after")
    def _schedule_ordered(self) -> Self:
        rows = self.rent_schedule or []
        starts = [row.from_month for row in rows]
        if starts != sorted(starts):
            raise ValueError("rent schedule rows are not in month order")
        return self

    def overall_confidence(self) -> float:
        """Mean confidence over :data:`CORE_FIELDS` (a field not found counts as 0)."""
        scores = [self.core_score(name) for name in CORE_FIELDS]
        return sum(scores) / len(scores)

    def core_score(self, name: str) -> float:
        """Confidence of one of :data:`CORE_FIELDS` (0 when not found)."""
        if name == "base_rent":
            return max(
                self.confidence.get("base_rent_initial_monthly", 0.0),
                self.confidence.get("base_rent_initial_annual", 0.0),
            )
        return self.confidence.get(name, 0.0)

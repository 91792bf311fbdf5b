"""Security deposit, renewal options, permitted use, governing law, currency."""

from __future__ import annotations

import pytest

from parcelflow.pipelines.leases.clauses import (
    find_currency,
    find_deposit,
    find_governing_law,
    find_permitted_use,
    find_renewal_options,
)
from parcelflow.pipelines.leases.corpus import Corpus


@pytest.mark.parametrize(
    ("text", "amount", "form"),
    [
        ("Security Deposit: $12,500.00. Next item.", 12500.0, "cash"),
        ("Security Deposit: None. Rent: as stated.", None, "none"),
        ('"Security Deposit": Not applicable. Next.', None, "none"),
        ("Letter of Credit Amount: $90,000.00. Brokers: none.", 90000.0, "letter_of_credit"),
        (
            '"Security Deposit" shall mean a letter of credit in the amount of Fifty Thousand '
            "Dollars ($50,000.00).",
            50000.0,
            "letter_of_credit",
        ),
        (
            "Tenant shall deposit the sum of Eight Thousand Dollars ($8,000.00) (the "
            '"Security Deposit") upon execution of this Lease.',
            8000.0,
            "cash",
        ),
        ("Tenant shall not be required to pay a security deposit.", None, "none"),
    ],
)
def test_deposit(text: str, amount: float | None, form: str) -> None:
    deposit = find_deposit(Corpus.from_text(text))
    assert (deposit.amount.value if deposit.amount else None) == amount
    assert deposit.form is not None and deposit.form.value == form


def test_deposit_becomes_a_letter_of_credit_when_the_clause_says_so() -> None:
    deposit = find_deposit(
        Corpus.from_text(
            "Security Deposit: $75,000.00. ... The Security Deposit shall be in the form of an "
            "irrevocable standby letter of credit."
        )
    )
    assert deposit.form is not None and deposit.form.value == "letter_of_credit"


def test_no_deposit_clause_is_not_stated() -> None:
    deposit = find_deposit(Corpus.from_text("Rent is payable monthly."))
    assert deposit.amount is None and deposit.form is None


@pytest.mark.parametrize(
    ("text", "count", "years"),
    [
        (
            "Tenant shall have the option to renew the Lease Term for three (3) additional terms "
            "of five (5) years each.",
            3,
            5,
        ),
        (
            "Landlord grants Tenant one (1) option to extend the Lease Term for a period of "
            "seven (7) years.",
            1,
            7,
        ),
        (
            "Tenant shall have the right to extend the Term for one (1) additional period of "
            "sixty (60) months.",
            1,
            5,
        ),
        (
            "Tenant shall have the option to extend the Term for: (a) a period of ten (10) years "
            '(the "First Extension Term") and (b) a further period of ten (10) years (the '
            '"Second Extension Term").',
            2,
            10,
        ),
    ],
)
def test_renewal_options(text: str, count: int, years: int) -> None:
    found = find_renewal_options(Corpus.from_text(text))
    assert found is not None and found.value is not None
    assert (found.value.count, found.value.years) == (count, years)


def test_no_renewal_option_is_stated_absence() -> None:
    found = find_renewal_options(Corpus.from_text("Tenant shall have no right to extend the Term."))
    assert found is not None and found.value is None


def test_option_named_but_not_included() -> None:
    found = find_renewal_options(Corpus.from_text("Exhibit F - Renewal Option Exhibit G - Signs"))
    assert found is not None and found.value is not None
    assert (found.value.count, found.value.years) == (None, None)


def test_nothing_said_about_options() -> None:
    assert find_renewal_options(Corpus.from_text("Rent is payable monthly.")) is None


@pytest.mark.parametrize(
    ("text", "use"),
    [
        (
            "Permitted Use: General office use and no other purpose. Brokers: none.",
            "General office use and no other purpose",
        ),
        (
            "(n) \u201cPermitted Use\u201d: Subject to the terms of this Lease, warehousing and "
            "distribution of consumer goods. (o) Brokers.",
            "Warehousing and distribution of consumer goods",
        ),
        (
            "Tenant may use the Premises for medical office use and for no other purpose.",
            "Medical office use",
        ),
    ],
)
def test_permitted_use(text: str, use: str) -> None:
    found = find_permitted_use(Corpus.from_text(text))
    assert found is not None and found.value == use


def test_governing_law_named_and_derived() -> None:
    named = find_governing_law(
        Corpus.from_text(
            "This Lease shall be governed by the laws of the Commonwealth of Virginia."
        ),
        None,
    )
    assert named is not None and named.value == "Virginia"
    derived = find_governing_law(
        Corpus.from_text(
            "This Lease shall be construed under the laws of the state in which the Premises "
            "are located."
        ),
        "100 Main Street, Tulsa, Oklahoma 74103",
    )
    assert derived is not None and derived.value == "Oklahoma" and derived.evidence.derived


def test_lease_law_wins_over_an_exhibit_agreement() -> None:
    found = find_governing_law(
        Corpus.from_text(
            "This Lease shall be governed by the laws of the State of Ohio. Exhibit F. This "
            "Agreement shall be governed by the laws of the State of New York."
        ),
        None,
    )
    assert found is not None and found.value == "Ohio"


def test_currency_defaults_to_none_and_detects_pounds() -> None:
    assert find_currency(Corpus.from_text("Rent: $1,000 per month.")) is None
    found = find_currency(Corpus.from_text("Basic Rent: £18,000 per annum; Deposit: £4,500."))
    assert found is not None and found.value == "GBP"

"""Lease date, commencement and expiration (dates or rules) and term length."""

from __future__ import annotations

import datetime as dt

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.terms import (
    derive_expiration,
    derive_term,
    find_commencement,
    find_expiration,
    find_lease_date,
    find_term_months,
)


def test_lease_date_from_the_opening_sentence() -> None:
    corpus = Corpus.from_text(
        "THIS LEASE is made as of the 5th day of April, 2016, by and between Acme LLC "
        '("Landlord") and Beta Inc. ("Tenant"). The Commencement Date is in 2017.'
    )
    found = find_lease_date(corpus)
    assert found is not None and found.value == dt.date(2016, 4, 5)


def test_other_instruments_dates_are_not_the_lease_date() -> None:
    corpus = Corpus.from_text(
        "Landlord holds the land under that certain Ground Lease dated as of May 1, 2001, "
        'by and between Owner and Landlord ("Ground Lessor"). Nothing else is dated.'
    )
    assert find_lease_date(corpus) is None


def test_cover_page_date_next_to_the_roles() -> None:
    corpus = Corpus.from_text(
        "LEASE BETWEEN ACME LLC, AS LANDLORD AND BETA INC., AS TENANT DATED MARCH 2, 2015"
    )
    found = find_lease_date(corpus)
    assert found is not None and found.value == dt.date(2015, 3, 2)


def test_fixed_commencement_expiration_and_derived_term() -> None:
    corpus = Corpus.from_text(
        "BASIC LEASE INFORMATION Date: May 1, 2019. Commencement Date: July 1, 2019. "
        "Expiration Date: June 30, 2024. Base Rent: $5,000.00 per month. Deposit: $1.00."
    )
    start, end = find_commencement(corpus), find_expiration(corpus)
    assert start.date is not None and start.date.value == dt.date(2019, 7, 1)
    assert end.date is not None and end.date.value == dt.date(2024, 6, 30)
    assert start.rule is None and end.rule is None
    term = derive_term(corpus, start.date, end.date)
    assert term is not None and term.value == 60 and term.evidence.derived


def test_event_defined_commencement_is_a_rule() -> None:
    corpus = Corpus.from_text(
        '"Commencement Date" shall mean the later of (a) January 1, 2022 and (b) the date '
        "Landlord substantially completes the Tenant Improvements. Other text."
    )
    facts = find_commencement(corpus)
    assert facts.date is None
    assert facts.rule is not None and facts.rule.value.startswith(
        "the later of (a) January 1, 2022"
    )


def test_relative_expiration_and_ordinal_term() -> None:
    corpus = Corpus.from_text(
        "The Term shall commence on the Commencement Date and shall end on the last day of the "
        "eighty-fourth (84th) full calendar month following the Commencement Date (the "
        '"Expiration Date"), unless sooner terminated.'
    )
    assert find_expiration(corpus).rule is not None
    term = find_term_months(corpus)
    assert term is not None and term.value == 84


def test_derived_expiration_from_fixed_start_and_term() -> None:
    corpus = Corpus.from_text(
        "Commencement Date: March 1, 2020. Lease Term: Three (3) years and one (1) month. "
        "Lease Expiration Date: The last day of the 37th full calendar month of the Lease Term."
    )
    start, end = find_commencement(corpus), find_expiration(corpus)
    term = find_term_months(corpus)
    assert term is not None and term.value == 37
    derived = derive_expiration(start.date, term, end.rule)
    assert derived is not None
    assert derived.value == dt.date(2023, 3, 31)
    assert derived.evidence.derived


def test_full_calendar_months_after_a_mid_month_start() -> None:
    corpus = Corpus.from_text("Commencement Date: April 15, 2021. Term: 24 full calendar months.")
    rule = find_expiration(corpus).rule
    derived = derive_expiration(find_commencement(corpus).date, find_term_months(corpus), rule)
    assert derived is not None and derived.value == dt.date(2023, 4, 14)


def test_target_and_rent_commencement_dates_are_not_the_commencement() -> None:
    corpus = Corpus.from_text(
        "Target Commencement Date: May 1, 2021. Rent Commencement Date: June 1, 2021. Other."
    )
    assert find_commencement(corpus).date is None


def test_renewal_terms_are_not_the_term() -> None:
    corpus = Corpus.from_text(
        "Tenant may extend the Lease for a Renewal Term: five (5) years, on notice. Nothing else."
    )
    assert find_term_months(corpus) is None


def test_term_clause_sentence() -> None:
    corpus = Corpus.from_text(
        'The term of this Lease ("Lease Term") shall be for seven (7) years, commencing on '
        'September 1, 2015 (the "Commencement Date") and ending on August 31, 2022.'
    )
    assert find_term_months(corpus).value == 84  # type: ignore[union-attr]
    assert find_commencement(corpus).date.value == dt.date(2015, 9, 1)  # type: ignore[union-attr]
    assert find_expiration(corpus).date.value == dt.date(2022, 8, 31)  # type: ignore[union-attr]

"""Rent schedule tables (columns proved by arithmetic) and the first period's rent."""

from __future__ import annotations

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.rent import find_initial_rent, find_rent_table, parse_table


def test_month_ranges_with_monthly_annual_and_rate() -> None:
    text = (
        "Base Rent: Months Annual Base Rent Monthly Installment Rate per RSF "
        "Lease Months 1-12 $240,000.00 $20,000.00 $2.00 "
        "Lease Months 13-24 $247,200.00 $20,600.00 $2.06 "
        "Lease Month 25 N/A $21,218.00 $2.12 * subject to abatement"
    )
    table = parse_table(text, 0, area=10_000)
    assert table is not None
    first, second, last = table.rows
    assert (first.from_month, first.to_month, first.monthly, first.annual, first.per_sf) == (
        1,
        12,
        20000.0,
        240000.0,
        2.0,
    )
    assert (second.from_month, second.to_month) == (13, 24)
    # The N/A row is solved from the columns of the rows that could be proved.
    assert (last.from_month, last.to_month, last.monthly, last.annual) == (25, 25, 21218.0, None)
    assert table.basis == "monthly"  # $2.00 x 10,000 RSF = the monthly rent


def test_lease_years_numbered_one_two_three() -> None:
    text = (
        "Minimum Rent Lease Year Rent/SF Annual Rent Monthly Rent "
        "1* $10.00 $150,000.00 $12,500.00 2 $10.30 $154,500.00 $12,875.00 "
        "3 $10.61 $159,150.00 $13,262.50 * see abatement"
    )
    table = parse_table(text, 0, area=15_000, term_months=30)
    assert table is not None
    assert [(r.from_month, r.to_month) for r in table.rows] == [(1, 12), (13, 24), (25, 30)]
    assert table.basis == "annual"


def test_rate_and_monthly_only_need_the_area() -> None:
    text = "Basic Rent: Lease Month Rate Monthly 1-24 $30.00 $25,000.00 25-36 $31.00 $25,833.33"
    assert parse_table(text, 0) is None  # without the area the columns cannot be proved
    table = parse_table(text, 0, area=10_000)
    assert table is not None
    assert table.rows[0].monthly == 25000.0 and table.rows[0].per_sf == 30.0


def test_grouped_rows_read_column_by_column() -> None:
    text = (
        "Fixed Rent Year 1 Months 1-6 Months 7-12 $5,000.00 $10,000.00 $60,000.00 "
        "$120,000.00 $6.00 $12.00 Year 2 $10,300.00 $123,600.00 $12.36 Other text"
    )
    table = parse_table(text, 0, area=10_000)
    assert table is not None
    rows = [(r.from_month, r.to_month, r.monthly, r.annual) for r in table.rows]
    assert rows == [
        (1, 6, 5000.0, 60000.0),
        (7, 12, 10000.0, 120000.0),
        (13, 24, 10300.0, 123600.0),
    ]


def test_partial_last_year_total() -> None:
    text = (
        "Net Rental Lease Year Annual Monthly 1 $120,000.00 $10,000.00 "
        "2 $123,000.00 $10,250.00 3 $63,045.00 $10,507.50 end"
    )
    table = parse_table(text, 0)
    assert table is not None
    assert table.rows[-1].to_month == 30  # $63,045 is six months of $10,507.50


def test_renewal_tables_are_not_the_base_rent() -> None:
    corpus = Corpus.from_text(
        "Renewal Term Base Rent Months 1-12 $30,000.00 $360,000.00 Months 13-24 "
        "$31,000.00 $372,000.00 text."
    )
    assert find_rent_table(corpus) is None


def test_initial_rent_from_the_table_derives_the_missing_annual() -> None:
    corpus = Corpus.from_text(
        "Base Rent: Lease Month Rate Monthly 1-12 $24.00 $20,000.00 13-24 $24.72 $20,600.00 end"
    )
    table = find_rent_table(corpus, area=10_000)
    initial = find_initial_rent(corpus, table)
    assert initial.monthly is not None and initial.monthly.value == 20000.0
    assert initial.annual is not None and initial.annual.value == 240000.0
    assert initial.annual.evidence.derived
    assert initial.per_sf_annual is not None and initial.per_sf_annual.value == 24.0


def test_initial_rent_from_a_sentence() -> None:
    corpus = Corpus.from_text(
        "Tenant shall pay annual base rent of Sixty Thousand and 00/100 Dollars ($60,000.00), "
        "payable in equal monthly installments of Five Thousand Dollars ($5,000.00)."
    )
    initial = find_initial_rent(corpus, None)
    assert initial.monthly is not None and initial.monthly.value == 5000.0
    assert initial.annual is not None and initial.annual.value == 60000.0


def test_late_charges_are_not_rent() -> None:
    corpus = Corpus.from_text("A late charge of $250.00 per month applies to overdue rent.")
    initial = find_initial_rent(corpus, None)
    assert initial.monthly is None and initial.annual is None

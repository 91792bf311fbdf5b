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


# -- structured data ----------------------------------------------------------------

_RECORD = {
    "landlord": "Harbor Point Owner LLC",
    "tenant": "Beta Labs, Inc.",
    "premises_address": "Suite 410, 100 Main Street, Boston, Massachusetts 02110",
    "notes": "Landlord leases the Premises to Tenant; Tenant pays Landlord Base Rent for the "
    "Premises in the Building; the Lessor and the Lessee agree the premises are leased.",
}


def _records(count: int = 12) -> list[dict[str, str]]:
    return [{**_RECORD, "tenant": f"Tenant {n} LLC"} for n in range(count)]


def test_a_json_export_of_lease_abstracts_is_not_a_lease() -> None:
    import json

    text = json.dumps({f"lease-{n}.txt": record for n, record in enumerate(_records())}, indent=1)
    verdict = classify(Corpus.from_text(text))
    assert not verdict.is_lease
    assert "structured data" in verdict.reason and "JSON" in verdict.reason


def test_json_lines_are_structured_data_even_though_the_whole_does_not_parse() -> None:
    import json

    text = "\n".join(json.dumps(record) for record in _records())
    verdict = classify(Corpus.from_text(text))
    assert not verdict.is_lease
    assert "JSON syntax" in verdict.reason


def test_a_csv_table_of_leases_is_not_a_lease() -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["landlord", "tenant", "premises", "notes"])
    for record in _records():
        writer.writerow([record["landlord"], record["tenant"], "Premises", record["notes"]])
    verdict = classify(Corpus.from_text(buffer.getvalue()))
    assert not verdict.is_lease
    assert "a table" in verdict.reason


def test_xml_markup_is_not_a_lease() -> None:
    body = "".join(
        f"<lease><landlord>{r['landlord']}</landlord><tenant>{r['tenant']}</tenant>"
        f"<premises>Premises</premises><notes>{r['notes']}</notes></lease>\n"
        for r in _records()
    )
    verdict = classify(Corpus.from_text(f'<?xml version="1.0"?>\n<leases>\n{body}</leases>'))
    assert not verdict.is_lease
    assert "markup" in verdict.reason


def test_a_lease_with_a_delimited_rent_table_is_still_a_lease() -> None:
    table = "Lease Year,Monthly Base Rent,Annual Base Rent\n1,$5,000.00,$60,000.00\n"
    text = LEASE + "\nBASE RENT SCHEDULE\n" + table * 3 + '"Premises" means Suite 410: ' + LEASE
    verdict = classify(Corpus.from_text(text))
    assert verdict.is_lease, verdict.reason

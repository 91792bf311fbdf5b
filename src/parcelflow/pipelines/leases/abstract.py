"""From a read document to a validated lease abstract, or a reason to quarantine it.

The order matters: classification first (a franchise agreement must not be mined for
rent), then the fields that others depend on (area before the rent table, whose columns
are proved with it; term before the schedule, whose last period runs to the end of the
term), then derivations, then the consistency rules, then pydantic validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from parcelflow.documents.model import Document
from parcelflow.errors import PermanentError, QuarantineError
from parcelflow.pipelines.leases import clauses, parties, premises, rent, terms
from parcelflow.pipelines.leases.classify import LeaseVerdict, classify
from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.fields import Found
from parcelflow.pipelines.leases.model import CORE_FIELDS, LeaseAbstract, rent_consistent

__all__ = ["DEFAULT_MIN_CONFIDENCE", "abstract_lease", "classify_document", "extract_abstract"]

DEFAULT_MIN_CONFIDENCE = 0.6


@dataclass(slots=True)
class _Findings:
    """Every field found so far, by contract field name."""

    found: dict[str, Found[Any]] = field(default_factory=dict)

    def put(self, name: str, finding: Found[Any] | None) -> None:
        """Record ``finding`` for field ``name`` (nothing when it is ``None``)."""
        if finding is not None:
            self.found[name] = finding

    def value(self, name: str) -> Any:
        """The value found for ``name``, or ``None``."""
        finding = self.found.get(name)
        return None if finding is None else finding.value

    def get(self, name: str) -> Found[Any] | None:
        """The finding for ``name``, or ``None``."""
        return self.found.get(name)

    def drop(self, *names: str) -> None:
        """Forget the findings for ``names``."""
        for name in names:
            self.found.pop(name, None)


def classify_document(document: Document) -> LeaseVerdict:
    """Whether ``document`` is a lease, with the reason."""
    return classify(Corpus(document))


def abstract_lease(
    document: Document, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> LeaseAbstract:
    """Abstract a lease document.

    Args:
        document: the document as read (pages, engine).
        min_confidence: below this overall confidence the abstract is not trusted.

    Returns:
        The validated abstract (``model_dump(mode="json")`` gives the contract fields
        other than ``job_id``/``source``/``sha256``).

    Raises:
        QuarantineError: ``not_a_lease`` when the document is not a lease;
            ``low_confidence`` when too little of the lease could be read.
        PermanentError: ``invalid_abstract`` when the extracted values fail validation.
    """
    corpus = Corpus(document)
    verdict = classify(corpus)
    if not verdict.is_lease:
        raise QuarantineError(f"not a lease: {verdict.reason}", code="not_a_lease")
    abstract = _build(corpus, document)
    overall = abstract.overall_confidence()
    if overall < min_confidence:
        missing = [name for name in CORE_FIELDS if abstract.core_score(name) == 0.0]
        raise QuarantineError(
            f"overall confidence {overall:.2f} is below {min_confidence:.2f}; "
            f"not found: {', '.join(missing) or 'none'}",
            code="low_confidence",
        )
    return abstract


def extract_abstract(document: Document) -> LeaseAbstract:
    """The abstract without the lease and confidence gates (for evaluation and review)."""
    return _build(Corpus(document), document)


def _build(corpus: Corpus, document: Document) -> LeaseAbstract:
    findings = _extract(corpus)
    _reconcile(findings)
    try:
        return _to_model(findings, document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PermanentError(
            f"lease abstract failed validation: {first['msg']}", code="invalid_abstract"
        ) from exc


def _extract(corpus: Corpus) -> _Findings:
    findings = _Findings()
    findings.put("landlord", parties.find_landlord(corpus))
    findings.put("tenant", parties.find_tenant(corpus))
    address = premises.find_premises_address(corpus)
    findings.put("premises_address", address)
    findings.put("rentable_square_feet", premises.find_rentable_area(corpus))
    findings.put("lease_date", terms.find_lease_date(corpus))
    _extract_term(corpus, findings)
    _extract_rent(corpus, findings)
    _extract_clauses(corpus, findings, address.value if address else None)
    return findings


def _extract_term(corpus: Corpus, findings: _Findings) -> None:
    start = terms.find_commencement(corpus)
    end = terms.find_expiration(corpus)
    findings.put("commencement_date", start.date)
    findings.put("commencement_rule", start.rule)
    findings.put("expiration_date", end.date)
    findings.put("expiration_rule", end.rule)
    term = terms.find_term_months(corpus) or terms.derive_term(corpus, start.date, end.date)
    findings.put("term_months", term)
    if end.date is None:
        findings.put("expiration_date", terms.derive_expiration(start.date, term, end.rule))


def _extract_rent(corpus: Corpus, findings: _Findings) -> None:
    area = findings.value("rentable_square_feet")
    table = rent.find_rent_table(corpus, area=area, term_months=findings.value("term_months"))
    if table is not None:
        rows = list(table.value.rows)
        findings.put("rent_schedule", Found(rows, table.confidence, table.evidence))
    initial = rent.find_initial_rent(corpus, table, area)
    findings.put("base_rent_initial_monthly", initial.monthly)
    findings.put("base_rent_initial_annual", initial.annual)
    findings.put("rent_per_sf_annual", initial.per_sf_annual)


def _extract_clauses(corpus: Corpus, findings: _Findings, address: str | None) -> None:
    deposit = clauses.find_deposit(corpus)
    findings.put("security_deposit", deposit.amount)
    findings.put("security_deposit_form", deposit.form)
    findings.put("renewal_options", clauses.find_renewal_options(corpus))
    findings.put("permitted_use", clauses.find_permitted_use(corpus))
    findings.put("governing_law", clauses.find_governing_law(corpus, address))
    findings.put("currency", clauses.find_currency(corpus))


def _reconcile(findings: _Findings) -> None:
    """Drop values that contradict each other rather than commit a wrong one."""
    start, end = findings.get("commencement_date"), findings.get("expiration_date")
    if start is not None and end is not None and end.value <= start.value:
        findings.drop(
            "expiration_date" if end.confidence <= start.confidence else "commencement_date"
        )
    monthly, annual = (
        findings.get("base_rent_initial_monthly"),
        findings.get("base_rent_initial_annual"),
    )
    if (
        monthly is not None
        and annual is not None
        and not rent_consistent(monthly.value, annual.value)
    ):
        findings.drop("base_rent_initial_monthly", "base_rent_initial_annual")


def _to_model(findings: _Findings, document: Document) -> LeaseAbstract:
    values: dict[str, Any] = {name: found.value for name, found in findings.found.items()}
    values.setdefault("security_deposit_form", "not_stated")
    values.setdefault("currency", "USD")
    if values["security_deposit_form"] is None:
        values["security_deposit_form"] = "not_stated"
    confidence = {name: round(f.confidence, 3) for name, f in findings.found.items()}
    evidence = {name: f.evidence for name, f in findings.found.items()}
    return LeaseAbstract(**values, confidence=confidence, evidence=evidence, engine=document.engine)

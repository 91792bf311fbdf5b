"""Is this document a lease? A decision with its reason, from the language of leasing.

A lease talks about a landlord (lessor), a tenant (lessee) and premises, constantly:
the seven EDGAR leases use landlord/lessor 17-24 times and tenant/lessee 3-26 times
per 1,000 words (a DC government in-lease calls its tenant "the District", hence the
low end). The 21 CUAD non-leases (franchise, agency, maintenance, outsourcing ...)
stay at or below 1.1 per 1,000 for at least one of the two, even those with a lease
addendum or an equipment "Lessor" among their parties. Thresholds sit well inside that
gap. Instruments that merely *refer* to a lease (guaranties, estoppel certificates,
SNDAs) are recognised by their title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parcelflow.pipelines.leases.corpus import Corpus

__all__ = ["MIN_WORDS", "LeaseVerdict", "classify"]

MIN_WORDS = 100
"""Below this there is not enough text to be a lease (a cover page, a blank scan)."""

MIN_LANDLORD_PER_1000 = 3.0
MIN_TENANT_PER_1000 = 1.5
MIN_PREMISES_PER_1000 = 1.5

_LANDLORD = re.compile(
    r"\b(?:Landlord|LANDLORD|Lessor|LESSOR|Sublandlord|SUBLANDLORD|Sublessor)s?\b"
)
_TENANT = re.compile(r"\b(?:Tenant|TENANT|Lessee|LESSEE|Subtenant|SUBTENANT|Sublessee)s?\b")
# Ground and net leases may lease "Property" or "Space" rather than "Premises".
_PREMISES = re.compile(
    r"\b(?:Premises|PREMISES|premises|Leased Property|Demised Property|Leased Space|Building)\b"
)
_TITLE_WINDOW = 600
_OTHER_INSTRUMENT = re.compile(
    r"\b(?:GUARANTY|GUARANTEE|ESTOPPEL|SUBORDINATION|NON-DISTURBANCE|ATTORNMENT|"
    r"MEMORANDUM OF LEASE|ASSIGNMENT AND ASSUMPTION|LETTER OF CREDIT)\b"
)
_LEASE_TITLE = re.compile(r"\b(?:SUB)?LEASE\b|\bL E A S E\b|\bIn-Lease\b", re.I)


@dataclass(frozen=True, slots=True)
class LeaseVerdict:
    """Whether a document is a lease, and why (one line, for the quarantine reason)."""

    is_lease: bool
    reason: str


def classify(corpus: Corpus) -> LeaseVerdict:
    """Decide whether ``corpus`` is a lease (including subleases and in-leases)."""
    words = len(corpus.text.split())
    if words < MIN_WORDS:
        return LeaseVerdict(False, f"only {words} words of text")
    landlord = _per_1000(_LANDLORD, corpus.text, words)
    tenant = _per_1000(_TENANT, corpus.text, words)
    premises = _per_1000(_PREMISES, corpus.text, words)
    densities = (
        f"landlord {landlord:.1f}, tenant {tenant:.1f}, premises {premises:.1f} per 1,000 words"
    )
    if landlord < MIN_LANDLORD_PER_1000 or tenant < MIN_TENANT_PER_1000:
        return LeaseVerdict(False, f"too little landlord/tenant language ({densities})")
    if premises < MIN_PREMISES_PER_1000:
        return LeaseVerdict(False, f"no leased premises ({densities})")
    title = _other_title(corpus.text)
    if title is not None:
        # Guaranties and estoppels speak the language of the lease they refer to.
        return LeaseVerdict(False, f"titled as a {title.lower()}, an instrument about a lease")
    return LeaseVerdict(True, f"lease language throughout ({densities})")


def _per_1000(pattern: re.Pattern[str], text: str, words: int) -> float:
    return len(pattern.findall(text)) * 1000 / words


def _other_title(text: str) -> str | None:
    """The instrument named before any "lease" in the opening (a guaranty *of* a lease)."""
    opening = text[:_TITLE_WINDOW]
    other = _OTHER_INSTRUMENT.search(opening)
    if other is None:
        return None
    lease = _LEASE_TITLE.search(opening)
    return other.group() if lease is None or other.start() < lease.start() else None

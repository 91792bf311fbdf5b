"""What a rule returns: a value, how far to trust it, and the text it came from."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from parcelflow.pipelines.leases.model import Evidence

__all__ = ["AGREEMENT_BONUS", "Found", "best", "corroborated"]

T = TypeVar("T")

AGREEMENT_BONUS = 0.04
"""Added when two independent places in the lease state the same value."""


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """One extracted value.

    Attributes:
        value: the value (``None`` for a field the lease states to be absent, such as
            "Security Deposit: None").
        confidence: 0..1, from the kind of place it was read and any cross-checks.
        evidence: page and exact snippet.
    """

    value: T
    confidence: float
    evidence: Evidence

    def boosted(self, amount: float = AGREEMENT_BONUS) -> Found[T]:
        """The same finding with more confidence (capped below certainty)."""
        return replace(self, confidence=min(0.99, self.confidence + amount))

    def scaled(self, factor: float) -> Found[T]:
        """The same finding with its confidence multiplied by ``factor``."""
        return replace(self, confidence=round(self.confidence * factor, 4))


def best(candidates: Iterable[Found[T] | None]) -> Found[T] | None:
    """The most trusted candidate (the earliest on a tie)."""
    chosen: Found[T] | None = None
    for candidate in candidates:
        if candidate is not None and (chosen is None or candidate.confidence > chosen.confidence):
            chosen = candidate
    return chosen


def corroborated(
    candidates: list[Found[T]], key: Callable[[T], object] | None = None
) -> Found[T] | None:
    """The most trusted candidate, boosted if another candidate states the same value.

    Args:
        candidates: findings for one field, in document order.
        key: maps a value to what counts as "the same" (e.g. a normalised name).
    """
    chosen = best(candidates)
    if chosen is None:
        return None
    same = key or (lambda value: value)
    target = same(chosen.value)
    agreeing = [c for c in candidates if c is not chosen and same(c.value) == target]
    return chosen.boosted() if agreeing else chosen

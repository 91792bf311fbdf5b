"""The hash-chained audit log: every job transition, provably in order.

Each event carries the hash of the one before it and the SHA-256 of the record
fields it committed (if any); its own hash covers all of that. Altering or
removing any stored event breaks the chain at that event; removing events from
the end is caught by the stored chain head.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS",
    "AuditEvent",
    "AuditReport",
    "canonical_json",
    "digest_fields",
    "verify_chain",
]

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_fields(fields: Mapping[str, Any]) -> str:
    """SHA-256 of a record's fields in canonical JSON."""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One transition of one job, chained to the event before it."""

    seq: int
    at: float
    job_id: int
    event: str
    from_state: str | None
    to_state: str
    reason_code: str | None
    digest: str | None
    prev_hash: str
    hash: str

    @staticmethod
    def compute_hash(
        seq: int,
        at: float,
        job_id: int,
        event: str,
        from_state: str | None,
        to_state: str,
        reason_code: str | None,
        digest: str | None,
        prev_hash: str,
    ) -> str:
        """The hash of an event's content together with the previous hash.

        Each part is written as ``len:text`` (``~`` for none), which is
        unambiguous whatever the parts contain and much cheaper than JSON on
        the hot path (every transition of every job is hashed).
        """
        parts = (
            str(seq),
            repr(at),
            str(job_id),
            event,
            from_state,
            to_state,
            reason_code,
            digest,
            prev_hash,
        )
        body = "|".join("~" if p is None else f"{len(p)}:{p}" for p in parts)
        return hashlib.sha256(body.encode()).hexdigest()

    @classmethod
    def chained(
        cls,
        prev: tuple[int, str],
        *,
        at: float,
        job_id: int,
        event: str,
        from_state: str | None,
        to_state: str,
        reason_code: str | None = None,
        digest: str | None = None,
    ) -> AuditEvent:
        """The event that follows ``prev`` = (seq, hash) of the chain head."""
        seq = prev[0] + 1
        hashed = cls.compute_hash(
            seq, at, job_id, event, from_state, to_state, reason_code, digest, prev[1]
        )
        return cls(
            seq, at, job_id, event, from_state, to_state, reason_code, digest, prev[1], hashed
        )

    def expected_hash(self) -> str:
        """The hash this event must carry, recomputed from its content."""
        return self.compute_hash(
            self.seq,
            self.at,
            self.job_id,
            self.event,
            self.from_state,
            self.to_state,
            self.reason_code,
            self.digest,
            self.prev_hash,
        )


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :func:`verify_chain` found.

    Attributes:
        events: how many events were read.
        broken_at: the seq of the first event that does not verify, or None.
        problem: one line on what is wrong with it.
        final_states: per state, how many jobs the log leaves in it.
    """

    events: int
    broken_at: int | None
    problem: str | None
    final_states: Mapping[str, int]

    @property
    def intact(self) -> bool:
        """Whether every event verified and the chain reaches the stored head."""
        return self.problem is None


def verify_chain(events: Iterable[AuditEvent], head: tuple[int, str]) -> AuditReport:
    """Walk the chain in seq order and check every link, then the stored head.

    Args:
        events: every stored event, ordered by seq (streamed; not held in memory).
        head: the (seq, hash) the store recorded for the last event appended.
    """
    prev = (0, GENESIS)
    count = 0
    last_state: dict[int, str] = {}
    for event in events:
        problem = _link_problem(event, prev)
        if problem:
            return AuditReport(count, event.seq, problem, {})
        prev = (event.seq, event.hash)
        last_state[event.job_id] = event.to_state
        count += 1
    if prev != head:
        problem = f"the chain ends at event {prev[0]} but its head says {head[0]}"
        return AuditReport(count, prev[0] + 1, problem, {})
    return AuditReport(count, None, None, dict(Counter(last_state.values())))


def _link_problem(event: AuditEvent, prev: tuple[int, str]) -> str | None:
    if event.seq != prev[0] + 1:
        return f"event {prev[0] + 1} is missing (next stored is {event.seq})"
    if event.prev_hash != prev[1]:
        return f"event {event.seq} does not follow event {prev[0]} (previous hash differs)"
    if event.hash != event.expected_hash():
        return f"event {event.seq} was altered (its content does not match its hash)"
    return None

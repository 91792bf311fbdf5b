"""Jobs: their states, the edges between them, and the row the ledger keeps.

::

    received ──► queued ──► running ──► committed
        │          ▲  ▲        │
        │          │  └────────┤ released / reclaimed (stop, dead lease owner)
        │          │           ├──► retry_wait ──► queued   (transient failure)
        └──────────┼───────────┼──► rejected               (permanent: bad input)
                   │           ├──► quarantined            (a person must look)
                   │           └──► dead                   (retries exhausted, poison)
                   └── replay ◄──── rejected | quarantined | dead

Only the ledger changes state, and only along these edges.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

__all__ = [
    "TERMINAL",
    "InvalidTransition",
    "JobRow",
    "JobState",
    "check_transition",
]


class JobState(StrEnum):
    """Where a job is in its life."""

    RECEIVED = "received"
    QUEUED = "queued"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    COMMITTED = "committed"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    DEAD = "dead"


TERMINAL = frozenset({JobState.COMMITTED, JobState.REJECTED, JobState.QUARANTINED, JobState.DEAD})
REPLAYABLE = frozenset({JobState.REJECTED, JobState.QUARANTINED, JobState.DEAD})

_EDGES: dict[JobState, frozenset[JobState]] = {
    JobState.RECEIVED: frozenset({JobState.QUEUED, JobState.REJECTED}),
    JobState.QUEUED: frozenset({JobState.RUNNING}),
    JobState.RUNNING: frozenset(
        {
            JobState.COMMITTED,
            JobState.RETRY_WAIT,
            JobState.REJECTED,
            JobState.QUARANTINED,
            JobState.DEAD,
            JobState.QUEUED,
        }
    ),
    JobState.RETRY_WAIT: frozenset({JobState.QUEUED}),
    JobState.COMMITTED: frozenset(),
    JobState.REJECTED: frozenset({JobState.QUEUED}),
    JobState.QUARANTINED: frozenset({JobState.QUEUED}),
    JobState.DEAD: frozenset({JobState.QUEUED}),
}


class InvalidTransition(RuntimeError):
    """A transition that is not an edge of the job state machine (a bug, not bad input)."""


def check_transition(current: JobState, target: JobState) -> None:
    """Raise :class:`InvalidTransition` unless ``current → target`` is an edge."""
    if target not in _EDGES[current]:
        raise InvalidTransition(f"{current} → {target} is not a job transition")


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as the ledger stores it.

    ``attempts`` counts claims (a claim is an attempt, whether or not it ends);
    ``crashes`` counts attempts that ended with the worker process dying.
    """

    id: int
    pipeline: str
    key: str
    source: str
    batch: str
    payload: dict[str, Any]
    state: JobState
    attempts: int = 0
    crashes: int = 0
    next_attempt_at: float | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    reason_code: str | None = None
    reason: str | None = None
    notes: dict[str, Any] | None = None
    result_digest: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def moved(self, target: JobState, now: float, **changes: Any) -> JobRow:
        """This row after the transition to ``target`` (checked against the edges)."""
        check_transition(self.state, target)
        changes["state"] = target
        changes["updated_at"] = now
        return self.with_changes(changes)

    def with_changes(self, changes: dict[str, Any]) -> JobRow:
        """A copy with ``changes`` applied.

        ``dataclasses.replace`` re-runs ``__init__`` with every field; on the
        ledger's hot path (several copies per job) a slot-by-slot copy is
        several times cheaper.
        """
        unknown = changes.keys() - _FIELD_SET
        if unknown:
            raise TypeError(f"JobRow has no field {sorted(unknown)[0]!r}")
        row = object.__new__(JobRow)
        for name in _FIELD_NAMES:
            object.__setattr__(row, name, changes[name] if name in changes else getattr(self, name))
        return row

    def ready(self, now: float) -> bool:
        """Whether a worker may claim it now: queued, due for retry, or its lease expired."""
        if self.state == JobState.QUEUED:
            return True
        if self.state == JobState.RETRY_WAIT:
            return (self.next_attempt_at or 0.0) <= now
        return self.state == JobState.RUNNING and (self.lease_expires_at or 0.0) < now

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (committed, rejected, quarantined or dead)."""
        return self.state in TERMINAL


_FIELD_NAMES = tuple(f.name for f in fields(JobRow))
_FIELD_SET = frozenset(_FIELD_NAMES)

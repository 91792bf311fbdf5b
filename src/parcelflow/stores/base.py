"""The storage contract under the ledger: named operations, no meaning.

A store runs statements; the :class:`~parcelflow.core.ledger.Ledger` decides what
they mean. Every implementation (memory, SQLite, PostgreSQL) passes the same
contract test suite (``tests/integration/test_store_contract.py``).

Writes happen inside :meth:`Store.transaction`: everything done through one
:class:`Tx` commits together or not at all. That is what lets a domain record
and its job's terminal transition land in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from parcelflow.core.audit import AuditEvent
from parcelflow.core.job import JobRow

__all__ = [
    "NewJob",
    "RecordRow",
    "Store",
    "SubmissionRow",
    "Tx",
]


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to insert; the store assigns its id."""

    row: JobRow


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A domain record to upsert by (collection, key)."""

    collection: str
    key: str
    job_id: int
    fields: Mapping[str, Any]
    digest: str
    updated_at: float
    blob: Any = None


@dataclass(frozen=True, slots=True)
class SubmissionRow:
    """That ``source`` was submitted in ``batch`` and maps to ``job_id``."""

    batch: str
    source: str
    job_id: int
    duplicate: bool
    at: float


class Tx(Protocol):
    """Operations available inside one transaction."""

    def lock_audit_head(self) -> tuple[int, str]:
        """The (seq, hash) of the last audit event, locked until the transaction ends."""
        ...

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        """Append events (consecutive seqs after the head) and move the head to the last."""
        ...

    def find_jobs(self, pipeline: str, keys: Sequence[str]) -> dict[str, JobRow]:
        """Existing jobs of ``pipeline`` with any of ``keys``, locked for update."""
        ...

    def lock_jobs(self, ids: Sequence[int]) -> dict[int, JobRow]:
        """The jobs with these ids, locked for update."""
        ...

    def insert_jobs(self, rows: Sequence[JobRow]) -> list[int]:
        """Insert jobs (their ``id`` is ignored); return the new ids in order."""
        ...

    def update_jobs(self, rows: Sequence[JobRow]) -> None:
        """Write every mutable column of each row, by id."""
        ...

    def update_jobs_if(self, rows: Sequence[JobRow], state: str, owner: str) -> int:
        """Write rows only where the stored job is still in ``state`` under lease ``owner``.

        Returns how many rows matched; the caller rolls back when that is short.
        """
        ...

    def claimable(
        self,
        pipeline: str | None,
        now: float,
        limit: int,
        *,
        ids: Sequence[int] | None = None,
        batch: str | None = None,
    ) -> list[JobRow]:
        """Jobs ready to run, locked, skipping ones another transaction holds.

        Ready means ``queued``, ``retry_wait`` whose time has come, or
        ``running`` whose lease has expired.
        """
        ...

    def running_owned_by(self, owner_prefix: str) -> list[JobRow]:
        """Running jobs whose lease owner starts with ``owner_prefix``, locked.

        Rows locked by another transaction are skipped, not waited for: a live
        worker is changing them.
        """
        ...

    def upsert_records(self, rows: Sequence[RecordRow]) -> None:
        """Insert or replace records; a row whose digest is unchanged is not rewritten."""
        ...

    def upsert_submissions(self, rows: Sequence[SubmissionRow]) -> None:
        """Record submissions; an existing (batch, source) keeps its row unless its job changed."""
        ...

    def extend_leases(self, owner: str, until: float) -> int:
        """Push the lease expiry of every running job of ``owner``; return how many."""
        ...


class Store(Protocol):
    """A durable home for jobs, records, submissions and the audit log."""

    url: str

    def transaction(self) -> AbstractContextManager[Tx]:
        """A write transaction; rolled back if the block raises."""
        ...

    def state_counts(self, batch: str | None = None) -> dict[str, int]:
        """Jobs per state (of the batch's submissions when ``batch`` is given)."""
        ...

    def duplicate_count(self, batch: str | None = None) -> int:
        """Submissions that found their job already committed."""
        ...

    def batch_names(self) -> list[str]:
        """Every batch that has submissions, oldest first."""
        ...

    def iter_jobs(
        self,
        *,
        batch: str | None = None,
        state: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> Iterator[JobRow]:
        """Jobs in id order, streamed."""
        ...

    def iter_records(self, collection: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(job_id, key, fields) of each record of ``collection``, streamed in key order."""
        ...

    def records_of_job(self, job_id: int) -> list[tuple[str, str, dict[str, Any]]]:
        """(collection, key, fields) of every record the job committed."""
        ...

    def iter_audit(self) -> Iterator[AuditEvent]:
        """Every audit event in seq order, streamed."""
        ...

    def audit_head(self) -> tuple[int, str]:
        """The stored (seq, hash) of the last audit event."""
        ...

    def state_changes(self, after_seq: int, limit: int = 10_000) -> list[tuple[int, int, str]]:
        """(seq, job_id, to_state) of the audit events after ``after_seq``, in order.

        At most ``limit`` of them. Events become visible in seq order (each
        transaction appends under the audit head's lock), so a reader that
        asks again after the last seq it saw misses none: following a batch
        costs what has changed, not the size of the batch.
        """
        ...

    def collections(self) -> list[str]:
        """Names of the record collections that hold at least one record."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

"""In-memory store: the reference implementation of the storage contract.

Shipped in the package so that unit tests and examples need no database. It is
safe across threads (one lock) and transactions are atomic: every mutation
records its undo, run in reverse if the block raises.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from parcelflow.core.audit import GENESIS, AuditEvent
from parcelflow.core.job import JobRow, JobState
from parcelflow.stores.base import RecordRow, SubmissionRow

__all__ = ["MemoryStore"]


class _MemoryTx:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store
        self.undo: list[Callable[[], None]] = []

    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if key in table:
            old = table[key]
            self.undo.append(lambda: table.__setitem__(key, old))
        else:
            self.undo.append(lambda: table.pop(key, None))
        table[key] = value

    def lock_audit_head(self) -> tuple[int, str]:
        return self._s.head

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        old_head, audit = self._s.head, self._s.audit
        count = len(audit)
        audit.extend(events)
        self._s.head = (events[-1].seq, events[-1].hash)

        def undo() -> None:
            del audit[count:]
            self._s.head = old_head

        self.undo.append(undo)

    def find_jobs(self, pipeline: str, keys: Sequence[str]) -> dict[str, JobRow]:
        ids = self._s.by_key
        return {k: self._s.jobs[ids[(pipeline, k)]] for k in keys if (pipeline, k) in ids}

    def lock_jobs(self, ids: Sequence[int]) -> dict[int, JobRow]:
        return {i: self._s.jobs[i] for i in ids if i in self._s.jobs}

    def insert_jobs(self, rows: Sequence[JobRow]) -> list[int]:
        new_ids = []
        for row in rows:
            if (row.pipeline, row.key) in self._s.by_key:
                raise KeyError(f"duplicate job key {row.pipeline}/{row.key}")
            self._s.next_id += 1
            job_id = self._s.next_id
            self._set(self._s.jobs, job_id, replace(row, id=job_id))
            self._set(self._s.by_key, (row.pipeline, row.key), job_id)
            new_ids.append(job_id)
        return new_ids

    def update_jobs(self, rows: Sequence[JobRow]) -> None:
        for row in rows:
            self._set(self._s.jobs, row.id, row)

    def update_jobs_if(self, rows: Sequence[JobRow], state: str, owner: str) -> int:
        matched = 0
        for row in rows:
            current = self._s.jobs.get(row.id)
            if current is not None and current.state == state and current.lease_owner == owner:
                self._set(self._s.jobs, row.id, row)
                matched += 1
        return matched

    def claimable(
        self,
        pipeline: str | None,
        now: float,
        limit: int,
        *,
        ids: Sequence[int] | None = None,
        batch: str | None = None,
    ) -> list[JobRow]:
        pool = (self._s.jobs[i] for i in ids if i in self._s.jobs) if ids else self._s.jobs.values()
        ready = [
            j
            for j in pool
            if (pipeline is None or j.pipeline == pipeline)
            and (batch is None or j.batch == batch)
            and j.ready(now)
        ]
        return sorted(ready, key=lambda j: j.id)[:limit]

    def running_owned_by(self, owner_prefix: str) -> list[JobRow]:
        return [
            j
            for j in self._s.jobs.values()
            if j.state == JobState.RUNNING and (j.lease_owner or "").startswith(owner_prefix)
        ]

    def upsert_records(self, rows: Sequence[RecordRow]) -> None:
        for row in rows:
            current = self._s.records.get((row.collection, row.key))
            if current is None or current.digest != row.digest:
                self._set(self._s.records, (row.collection, row.key), row)

    def upsert_submissions(self, rows: Sequence[SubmissionRow]) -> None:
        for row in rows:
            current = self._s.submissions.get((row.batch, row.source))
            if current is None or current.job_id != row.job_id:
                self._set(self._s.submissions, (row.batch, row.source), row)

    def extend_leases(self, owner: str, until: float) -> int:
        mine = [
            j
            for j in self._s.jobs.values()
            if j.state == JobState.RUNNING and j.lease_owner == owner
        ]
        for job in mine:
            self._set(self._s.jobs, job.id, replace(job, lease_expires_at=until))
        return len(mine)


class MemoryStore:
    """Jobs, records, submissions and audit events in dictionaries."""

    def __init__(self) -> None:
        self.url = "memory://"
        self.jobs: dict[int, JobRow] = {}
        self.by_key: dict[tuple[str, str], int] = {}
        self.records: dict[tuple[str, str], RecordRow] = {}
        self.submissions: dict[tuple[str, str], SubmissionRow] = {}
        self.audit: list[AuditEvent] = []
        self.head: tuple[int, str] = (0, GENESIS)
        self.next_id = 0
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTx]:
        with self._lock:
            tx = _MemoryTx(self)
            try:
                yield tx
            except BaseException:
                for undo in reversed(tx.undo):
                    undo()
                raise

    def _batch_jobs(self, batch: str) -> list[tuple[SubmissionRow, JobRow]]:
        return [(s, self.jobs[s.job_id]) for (b, _), s in self.submissions.items() if b == batch]

    def state_counts(self, batch: str | None = None) -> dict[str, int]:
        with self._lock:
            if batch is None:
                states = [j.state.value for j in self.jobs.values()]
            else:
                states = [j.state.value for s, j in self._batch_jobs(batch) if not s.duplicate]
        return dict(Counter(states))

    def duplicate_count(self, batch: str | None = None) -> int:
        with self._lock:
            subs = self.submissions.values()
            return sum(1 for s in subs if s.duplicate and (batch is None or s.batch == batch))

    def batch_names(self) -> list[str]:
        with self._lock:
            first: dict[str, float] = {}
            for s in self.submissions.values():
                first[s.batch] = min(first.get(s.batch, s.at), s.at)
        return sorted(first, key=lambda b: (first[b], b))

    def iter_jobs(
        self,
        *,
        batch: str | None = None,
        state: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> Iterator[JobRow]:
        with self._lock:
            if batch is not None:
                rows = {j.id: j for s, j in self._batch_jobs(batch)}.values()
            else:
                rows = self.jobs.values()
            picked = [
                j
                for j in rows
                if (state is None or j.state == state) and (ids is None or j.id in ids)
            ]
        yield from sorted(picked, key=lambda j: j.id)

    def iter_records(self, collection: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        with self._lock:
            rows = sorted(
                (r for r in self.records.values() if r.collection == collection),
                key=lambda r: r.key,
            )
        for r in rows:
            yield r.job_id, r.key, dict(r.fields)

    def records_of_job(self, job_id: int) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = [r for r in self.records.values() if r.job_id == job_id]
        return [(r.collection, r.key, dict(r.fields)) for r in sorted(rows, key=lambda r: r.key)]

    def iter_audit(self) -> Iterator[AuditEvent]:
        with self._lock:
            events = list(self.audit)
        yield from events

    def audit_head(self) -> tuple[int, str]:
        return self.head

    def state_changes(self, after_seq: int, limit: int = 10_000) -> list[tuple[int, int, str]]:
        with self._lock:
            start = bisect.bisect_right(self.audit, after_seq, key=lambda e: e.seq)
            events = self.audit[start : start + limit]
        return [(e.seq, e.job_id, e.to_state) for e in events]

    def collections(self) -> list[str]:
        with self._lock:
            return sorted({c for c, _ in self.records})

    def close(self) -> None:
        """Nothing to release."""

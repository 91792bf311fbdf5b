"""The ledger: the single source of truth about jobs, and the only thing that moves them.

It knows what admitting, claiming, finishing, releasing and replaying mean; the
store underneath only runs statements. Each public operation is one store
transaction that also appends the audit events of every transition it makes, so
the log and the job table can never disagree.

Group commit: :meth:`Ledger.finish` takes the outcomes of many jobs and commits
them in one transaction. Each job's record and terminal transition are still
atomic together (they are in that transaction); batching only shares the cost
of the commit between jobs.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from parcelflow.core.audit import AuditEvent, AuditReport, digest_fields, verify_chain
from parcelflow.core.job import REPLAYABLE, JobRow, JobState
from parcelflow.core.pipeline import Record, Result, writer_for
from parcelflow.core.policies.retry import GiveUp, RetryPolicy
from parcelflow.errors import ParcelflowError, QuarantineError, WorkerCrashed, one_line
from parcelflow.stores.base import RecordRow, Store, SubmissionRow, Tx

__all__ = [
    "Admission",
    "Admitted",
    "Done",
    "Failed",
    "Finished",
    "Ledger",
    "Outcome",
    "Verdict",
    "make_owner",
]

Clock = Callable[[], float]


def make_owner() -> str:
    """A lease-owner name: ``host:pid:token``, unique per engine instance."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _local_owner_dead(owner: str | None) -> bool:
    """Whether ``owner`` names a process on this host that no longer exists."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


class Verdict(StrEnum):
    """What admitting a submission led to, as the run summary counts it."""

    CLAIMED = "claimed"
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    WAITING = "waiting"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Admission:
    """A keyed submission offered to the ledger."""

    source: str
    key: str
    payload: Mapping[str, Any]
    error: ParcelflowError | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """The verdict on one admission; ``new`` when this admission created the job."""

    verdict: Verdict
    job: JobRow | None = None
    new: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """A job whose stages produced ``result``."""

    job: JobRow
    result: Result


@dataclass(frozen=True, slots=True)
class Failed:
    """A job whose stages raised ``error``."""

    job: JobRow
    error: BaseException


Outcome = Done | Failed


@dataclass(frozen=True, slots=True)
class Finished:
    """Where a finished job now stands.

    ``stale`` is true when the job was no longer ours to finish (its lease
    expired and someone else reclaimed it); nothing was written for it.
    """

    job_id: int
    state: JobState
    next_attempt_at: float | None = None
    reason: str | None = None
    stale: bool = False


@dataclass
class _Changes:
    """What one transaction will write: job rows, records, submissions, transitions."""

    updates: dict[int, JobRow] = field(default_factory=dict)
    records: list[RecordRow] = field(default_factory=list)
    submissions: list[SubmissionRow] = field(default_factory=list)
    events: list[tuple[int, str, JobState | None, JobState, str | None, str | None]] = field(
        default_factory=list
    )

    def move(
        self,
        job: JobRow,
        target: JobState,
        event: str,
        now: float,
        *,
        digest: str | None = None,
        **changes: Any,
    ) -> JobRow:
        moved = job.moved(target, now, **changes)
        self.updates[job.id] = moved
        self.events.append((job.id, event, job.state, target, moved.reason_code, digest))
        return moved


class _StaleGroup(Exception):
    """A guarded update matched fewer jobs than it wrote: redo the group carefully."""


class Ledger:
    """Jobs' states, moved only along the state machine's edges, with an audit event each.

    Args:
        store: where everything is kept.
        owner: this engine's lease-owner name (see :func:`make_owner`).
        lease_s: how long a claim holds without a heartbeat.
        policy: decides retries, give-ups and poison.
        clock: the time, epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        lease_s: float = 30.0,
        policy: RetryPolicy | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.owner = owner or make_owner()
        self.lease_s = lease_s
        self.policy = policy or RetryPolicy()
        self.clock = clock

    # -- writing ---------------------------------------------------------------

    def _write(self, tx: Tx, changes: _Changes, now: float) -> None:
        tx.update_jobs(list(changes.updates.values()))
        self._write_records(tx, changes.records)
        tx.upsert_submissions(changes.submissions)
        self._append_events(tx, changes, now)

    @staticmethod
    def _write_records(tx: Tx, records: list[RecordRow]) -> None:
        by_collection: dict[str, list[RecordRow]] = {}
        for row in records:
            by_collection.setdefault(row.collection, []).append(row)
        for collection, rows in by_collection.items():
            writer = writer_for(collection)
            if writer is None:
                tx.upsert_records(rows)
            else:
                writer(tx, rows)

    def _append_events(self, tx: Tx, changes: _Changes, now: float) -> None:
        if not changes.events:
            return
        # Locked last, so that concurrent writers serialise only on the append.
        head = tx.lock_audit_head()
        chained = []
        for job_id, event, source, target, code, digest in changes.events:
            e = AuditEvent.chained(
                head,
                at=now,
                job_id=job_id,
                event=event,
                from_state=source.value if source else None,
                to_state=target.value,
                reason_code=code,
                digest=digest,
            )
            chained.append(e)
            head = (e.seq, e.hash)
        tx.append_audit(chained)

    def _claim_fields(self, job: JobRow, now: float) -> dict[str, Any]:
        return {
            "attempts": job.attempts + 1,
            "lease_owner": self.owner,
            "lease_expires_at": now + self.lease_s,
            "next_attempt_at": None,
        }

    def _abandon(self, changes: _Changes, job: JobRow, now: float) -> JobRow | None:
        """A running job whose worker is gone: charge it a crash, then requeue it or end it.

        Its worker died (or stopped heartbeating) while running it, so this job
        may be what killed it: after ``max_crashes`` such ends it is poison, and
        after ``max_attempts`` claims it is abandoned; either way ``dead``,
        never requeued forever. Returns the requeued row, or None if it ended.
        """
        crashes = job.crashes + 1
        gone: dict[str, Any] = {"crashes": crashes, "lease_owner": None, "lease_expires_at": None}
        if crashes >= self.policy.max_crashes:
            reason = f"its worker process died while running it {crashes} times"
            changes.move(
                job, JobState.DEAD, "dead", now, reason_code="poison", reason=reason, **gone
            )
            return None
        if job.attempts >= self.policy.max_attempts:
            reason = f"its worker stopped while running it; {job.attempts} attempts used"
            changes.move(
                job, JobState.DEAD, "dead", now, reason_code="abandoned", reason=reason, **gone
            )
            return None
        return changes.move(job, JobState.QUEUED, "reclaimed", now, **gone)

    def _claim(self, changes: _Changes, job: JobRow, now: float) -> JobRow | None:
        """Take ``job`` to running for this owner; None if it must end instead."""
        if job.state == JobState.RUNNING:
            requeued = self._abandon(changes, job, now)
            if requeued is None:
                return None
            job = requeued
        elif job.state == JobState.RETRY_WAIT:
            job = changes.move(job, JobState.QUEUED, "requeued", now)
        return changes.move(job, JobState.RUNNING, "claimed", now, **self._claim_fields(job, now))

    # -- admission -------------------------------------------------------------

    def admit(
        self, pipeline: str, batch: str, items: Sequence[Admission], *, claim: bool = True
    ) -> list[Admitted]:
        """Register submissions as jobs and claim the ones that are ours to run.

        A new key becomes a job (``received → queued → running``, or
        ``received → rejected`` when the submission carries an error). A known
        key is not run again: committed means duplicate, other ended states are
        reported as they are, unfinished jobs are claimed when they are free.
        With ``claim=False`` jobs stop at ``queued`` for other workers to claim
        (the Celery coordinator admits this way).
        """
        now = self.clock()
        with self.store.transaction() as tx:
            existing = tx.find_jobs(pipeline, [item.key for item in items])
            changes = _Changes()
            verdicts: list[Admitted | int] = []  # an int: index into the new jobs
            fresh: list[JobRow] = []
            seen: set[str] = set()
            for item in items:
                if item.key in seen:
                    verdicts.append(Admitted(Verdict.DUPLICATE))
                    continue
                seen.add(item.key)
                job = existing.get(item.key)
                if job is None:
                    verdicts.append(len(fresh))
                    fresh.append(self._new_job(pipeline, batch, item, now))
                else:
                    verdicts.append(self._readmit(changes, job, now, claim=claim))
            results = self._insert_fresh(tx, changes, fresh, verdicts, now, claim=claim)
            changes.submissions = [
                SubmissionRow(batch, item.source, r.job.id, r.verdict == Verdict.DUPLICATE, now)
                for item, r in zip(items, results, strict=True)
                if r.job is not None
            ]
            self._write(tx, changes, now)
        return results

    def _new_job(self, pipeline: str, batch: str, item: Admission, now: float) -> JobRow:
        error = item.error
        return JobRow(
            id=0,
            pipeline=pipeline,
            key=item.key,
            source=item.source,
            batch=batch,
            payload=dict(item.payload),
            state=JobState.RECEIVED,
            reason_code=error.code if error else None,
            reason=error.message if error else None,
            created_at=now,
            updated_at=now,
        )

    def _insert_fresh(
        self,
        tx: Tx,
        changes: _Changes,
        fresh: list[JobRow],
        verdicts: list[Admitted | int],
        now: float,
        *,
        claim: bool = True,
    ) -> list[Admitted]:
        """Insert new jobs already moved on from ``received``; resolve their verdicts.

        Each new job is inserted in its final state (one write instead of an
        insert and an update); its audit events still record every edge.
        """
        advanced = [self._advance_fresh(job, now, claim=claim) for job in fresh]
        ids = tx.insert_jobs([row for row, _ in advanced])
        placed: list[Admitted] = []
        for (row, events), job_id in zip(advanced, ids, strict=True):
            changes.events.extend((job_id, *event[1:]) for event in events)
            verdict = {
                JobState.REJECTED: Verdict.REJECTED,
                JobState.QUEUED: Verdict.QUEUED,
            }.get(row.state, Verdict.CLAIMED)
            placed.append(Admitted(verdict, row.with_changes({"id": job_id}), new=True))
        return [placed[v] if isinstance(v, int) else v for v in verdicts]

    def _advance_fresh(
        self, job: JobRow, now: float, *, claim: bool = True
    ) -> tuple[JobRow, list[Any]]:
        local = _Changes()
        local.events.append((0, "received", None, JobState.RECEIVED, None, None))
        if job.reason_code is not None:
            return local.move(job, JobState.REJECTED, "rejected", now), local.events
        queued = local.move(job, JobState.QUEUED, "queued", now)
        if not claim:
            return queued, local.events
        claimed = self._claim(local, queued, now)
        assert claimed is not None  # a fresh job has no attempts to exhaust
        return claimed, local.events

    def _readmit(
        self, changes: _Changes, job: JobRow, now: float, *, claim: bool = True
    ) -> Admitted:
        state = job.state
        if state == JobState.COMMITTED:
            return Admitted(Verdict.DUPLICATE, job)
        if state in REPLAYABLE:
            return Admitted(Verdict(state.value), job)
        if not claim:
            if state == JobState.RECEIVED:
                job = changes.move(job, JobState.QUEUED, "queued", now)
            return Admitted(Verdict.QUEUED, job)
        if state == JobState.RETRY_WAIT and (job.next_attempt_at or 0.0) > now:
            return Admitted(Verdict.WAITING, job)
        if state == JobState.RUNNING and not self._abandoned(job, now):
            return Admitted(Verdict.DUPLICATE, job)  # someone alive is on it
        if state == JobState.RECEIVED:
            job = changes.move(job, JobState.QUEUED, "queued", now)
        claimed = self._claim(changes, job, now)
        if claimed is None:
            return Admitted(Verdict.DEAD, changes.updates[job.id])
        return Admitted(Verdict.CLAIMED, claimed)

    def _abandoned(self, job: JobRow, now: float) -> bool:
        expired = (job.lease_expires_at or 0.0) < now
        return expired or _local_owner_dead(job.lease_owner)

    # -- claiming --------------------------------------------------------------

    def claim(
        self,
        pipeline: str | None,
        *,
        limit: int = 100,
        ids: Sequence[int] | None = None,
        batch: str | None = None,
    ) -> list[JobRow]:
        """Claim jobs that are ready: queued, due for retry, or with an expired lease."""
        now = self.clock()
        with self.store.transaction() as tx:
            changes = _Changes()
            claimed = []
            for job in tx.claimable(pipeline, now, limit, ids=ids, batch=batch):
                taken = self._claim(changes, job, now)
                if taken is not None:
                    claimed.append(taken)
            self._write(tx, changes, now)
        return claimed

    def recover_local(self) -> int:
        """Release running jobs whose owner was a process on this host that has died.

        A later run can then claim them at once instead of waiting for their
        leases to expire. Each is charged a crash (see :meth:`_abandon`).
        Returns how many were released or ended.
        """
        now = self.clock()
        host = socket.gethostname() + ":"
        with self.store.transaction() as tx:
            changes = _Changes()
            for job in tx.running_owned_by(host):
                if _local_owner_dead(job.lease_owner):
                    self._abandon(changes, job, now)
            self._write(tx, changes, now)
        return len(changes.updates)

    def heartbeat(self) -> int:
        """Extend the leases of every job this owner is running; returns how many."""
        until = self.clock() + self.lease_s
        with self.store.transaction() as tx:
            return tx.extend_leases(self.owner, until)

    def release(self, ids: Sequence[int]) -> int:
        """Hand running jobs back (``running → queued``) without counting the attempt."""
        now = self.clock()
        with self.store.transaction() as tx:
            changes = _Changes()
            for job in tx.lock_jobs(ids).values():
                if job.state == JobState.RUNNING and job.lease_owner == self.owner:
                    changes.move(
                        job,
                        JobState.QUEUED,
                        "released",
                        now,
                        attempts=max(0, job.attempts - 1),
                        lease_owner=None,
                        lease_expires_at=None,
                    )
            self._write(tx, changes, now)
        return len(changes.updates)

    # -- finishing -------------------------------------------------------------

    def finish(self, outcomes: Sequence[Outcome]) -> list[Finished]:
        """Commit the outcomes of many jobs in one transaction (group commit).

        Fast path: the rows the engine holds are current while this owner holds
        their leases, so each update is guarded (still running, still ours)
        instead of read first. If any guard fails, that transaction is rolled
        back and the group is redone reading every job, so a job someone else
        reclaimed is reported stale and nothing is written for it.
        """
        now = self.clock()
        try:
            with self.store.transaction() as tx:
                changes = _Changes()
                finished = [self._finish_one(changes, o.job, o, now) for o in outcomes]
                rows = list(changes.updates.values())
                if tx.update_jobs_if(rows, JobState.RUNNING.value, self.owner) != len(rows):
                    raise _StaleGroup
                changes.updates.clear()
                self._write(tx, changes, now)
            return finished
        except _StaleGroup:
            pass
        with self.store.transaction() as tx:
            current = tx.lock_jobs([o.job.id for o in outcomes])
            changes = _Changes()
            finished = [self._finish_one(changes, current.get(o.job.id), o, now) for o in outcomes]
            self._write(tx, changes, now)
        return finished

    def _finish_one(
        self, changes: _Changes, current: JobRow | None, outcome: Outcome, now: float
    ) -> Finished:
        job = outcome.job
        if (
            current is None
            or current.state != JobState.RUNNING
            or current.lease_owner != self.owner
        ):
            state = current.state if current else job.state
            return Finished(job.id, state, stale=True)
        if isinstance(outcome, Done):
            return self._commit(changes, current, outcome.result, now)
        return self._fail(changes, current, outcome.error, now)

    def _commit(self, changes: _Changes, job: JobRow, result: Result, now: float) -> Finished:
        rows = [_record_row(r, job.id, now) for r in result.records]
        digest = (
            rows[0].digest
            if len(rows) == 1
            else digest_fields({"records": [r.digest for r in rows]})
        )
        changes.records.extend(rows)
        changes.move(
            job,
            JobState.COMMITTED,
            "committed",
            now,
            digest=digest,
            result_digest=digest,
            notes=dict(result.notes) or job.notes,
            lease_owner=None,
            lease_expires_at=None,
            reason_code=None,
            reason=None,
        )
        return Finished(job.id, JobState.COMMITTED)

    def _fail(self, changes: _Changes, job: JobRow, error: BaseException, now: float) -> Finished:
        crashes = job.crashes + (1 if isinstance(error, WorkerCrashed) else 0)
        decision = self.policy.decide(error, job.attempts, now, crashes)
        code = getattr(error, "code", "unexpected_error")
        message = one_line(str(error) or type(error).__name__)
        common: dict[str, Any] = {
            "crashes": crashes,
            "lease_owner": None,
            "lease_expires_at": None,
            "notes": getattr(error, "notes", None) or job.notes,
        }
        if not isinstance(decision, GiveUp):
            changes.move(
                job,
                JobState.RETRY_WAIT,
                "retry",
                now,
                next_attempt_at=decision.at,
                reason_code=code,
                reason=message,
                **common,
            )
            return Finished(job.id, JobState.RETRY_WAIT, decision.at, message)
        target = _give_up_state(error, decision)
        changes.move(
            job,
            target,
            target.value,
            now,
            reason_code=decision.code,
            reason=one_line(decision.message),
            **common,
        )
        return Finished(job.id, target, reason=decision.message)

    # -- replay ----------------------------------------------------------------

    def requeue(self, ids: Sequence[int]) -> list[JobRow]:
        """Put ended-but-not-committed jobs back in the queue (``replay``).

        Committed jobs are left alone: replaying them would commit nothing new.
        Attempts and crash counts start again.
        """
        now = self.clock()
        with self.store.transaction() as tx:
            changes = _Changes()
            for job in tx.lock_jobs(ids).values():
                if job.state in REPLAYABLE:
                    changes.move(
                        job,
                        JobState.QUEUED,
                        "replayed",
                        now,
                        attempts=0,
                        crashes=0,
                        next_attempt_at=None,
                        reason_code=None,
                        reason=None,
                    )
            self._write(tx, changes, now)
        return list(changes.updates.values())

    # -- reading ---------------------------------------------------------------

    def verify(self) -> tuple[AuditReport, dict[str, int]]:
        """Verify the audit chain; also return the ledger's job counts per state."""
        report = verify_chain(self.store.iter_audit(), self.store.audit_head())
        return report, self.store.state_counts()


def _record_row(record: Record, job_id: int, now: float) -> RecordRow:
    fields = dict(record.fields)
    digest = digest_fields(fields)
    return RecordRow(record.collection, record.key, job_id, fields, digest, now, record.blob)


def _give_up_state(error: BaseException, decision: GiveUp) -> JobState:
    if isinstance(error, QuarantineError):
        return JobState.QUARANTINED
    if decision.code in ("retries_exhausted", "poison"):
        return JobState.DEAD
    return JobState.REJECTED

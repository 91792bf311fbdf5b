"""Ledger semantics on the in-memory store: admission, claims, outcomes, replay, audit."""

from __future__ import annotations

import random

import pytest

from parcelflow.core.job import JobState
from parcelflow.core.ledger import Admission, Done, Failed, Ledger, Verdict
from parcelflow.core.pipeline import Record, Result
from parcelflow.core.policies.retry import RetryPolicy
from parcelflow.errors import PermanentError, QuarantineError, TransientError, WorkerCrashed
from parcelflow.stores import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Ledger:
    policy = RetryPolicy(max_attempts=3, base=1.0, cap=8.0, max_crashes=2, rng=random.Random(1))
    return Ledger(MemoryStore(), owner="host:1:a", lease_s=30.0, policy=policy, clock=clock)


def _admit(ledger: Ledger, *keys: str, batch: str = "b") -> list:  # type: ignore[type-arg]
    return ledger.admit("p", batch, [Admission(f"/f/{k}", k, {"k": k}) for k in keys])


def _done(key: str) -> Result:
    return Result(records=(Record("c", key, {"key": key}),))


def test_new_keys_are_claimed_and_commit_once(ledger: Ledger) -> None:
    admitted = _admit(ledger, "a", "b", "a")
    assert [a.verdict for a in admitted] == [Verdict.CLAIMED, Verdict.CLAIMED, Verdict.DUPLICATE]
    job = admitted[0].job
    assert job.state == JobState.RUNNING and job.attempts == 1 and job.lease_owner == "host:1:a"
    [finished] = ledger.finish([Done(job, _done("a"))])
    assert finished.state == JobState.COMMITTED
    again = _admit(ledger, "a", batch="b2")
    assert again[0].verdict == Verdict.DUPLICATE
    assert ledger.store.duplicate_count("b2") == 1
    assert list(ledger.store.iter_records("c")) == [(job.id, "a", {"key": "a"})]


def test_transient_failure_waits_then_retries_then_dies(ledger: Ledger, clock: Clock) -> None:
    job = _admit(ledger, "a")[0].job
    for attempt in (1, 2):
        [f] = ledger.finish([Failed(job, TransientError("flaky", code="timeout"))])
        assert f.state == JobState.RETRY_WAIT
        assert clock.now <= f.next_attempt_at <= clock.now + min(8.0, 2 ** (attempt - 1))
        assert ledger.claim("p", ids=[job.id]) == [] or f.next_attempt_at == clock.now
        clock.now = f.next_attempt_at + 0.001
        [job] = ledger.claim("p", ids=[job.id])
        assert job.attempts == attempt + 1
    [f] = ledger.finish([Failed(job, TransientError("flaky"))])
    assert f.state == JobState.DEAD
    [row] = ledger.store.iter_jobs()
    assert (row.reason_code, row.attempts) == ("retries_exhausted", 3)


def test_permanent_and_quarantine_end_at_once(ledger: Ledger) -> None:
    a, b = (x.job for x in _admit(ledger, "a", "b"))
    finished = ledger.finish(
        [
            Failed(a, PermanentError("encrypted PDF", code="encrypted")),
            Failed(b, QuarantineError("confidence 0.3", code="low_confidence")),
        ]
    )
    assert [f.state for f in finished] == [JobState.REJECTED, JobState.QUARANTINED]
    rows = {j.key: (j.reason_code, j.reason) for j in ledger.store.iter_jobs()}
    assert rows == {"a": ("encrypted", "encrypted PDF"), "b": ("low_confidence", "confidence 0.3")}


def test_crashing_job_becomes_poison(ledger: Ledger, clock: Clock) -> None:
    job = _admit(ledger, "a")[0].job
    [f] = ledger.finish([Failed(job, WorkerCrashed("died"))])
    assert f.state == JobState.RETRY_WAIT
    clock.now = f.next_attempt_at + 1
    [job] = ledger.claim("p")
    [f] = ledger.finish([Failed(job, WorkerCrashed("died"))])
    assert f.state == JobState.DEAD
    assert next(ledger.store.iter_jobs()).reason_code == "poison"


def test_admission_error_rejects_without_running(ledger: Ledger) -> None:
    error = PermanentError("symlink points nowhere", code="broken_symlink")
    [a] = ledger.admit("p", "b", [Admission("/f/x", "source:x", {}, error)])
    assert a.verdict == Verdict.REJECTED and a.job.state == JobState.REJECTED
    events = [(e.event, e.to_state) for e in ledger.store.iter_audit()]
    assert events == [("received", "received"), ("rejected", "rejected")]


def test_finish_of_a_job_no_longer_ours_is_stale(ledger: Ledger, clock: Clock) -> None:
    job = _admit(ledger, "a")[0].job
    clock.now += 31  # lease expired
    other = Ledger(ledger.store, owner="host2:9:b", policy=ledger.policy, clock=clock)
    [taken] = other.claim("p")
    assert taken.attempts == 2
    [f] = ledger.finish([Done(job, _done("a"))])
    assert f.stale and f.state == JobState.RUNNING
    assert other.finish([Done(taken, _done("a"))])[0].state == JobState.COMMITTED


def test_heartbeat_extends_leases(ledger: Ledger, clock: Clock) -> None:
    _admit(ledger, "a")
    clock.now += 20
    assert ledger.heartbeat() == 1
    assert next(ledger.store.iter_jobs()).lease_expires_at == clock.now + 30


def test_release_hands_back_without_counting_the_attempt(ledger: Ledger) -> None:
    job = _admit(ledger, "a")[0].job
    assert ledger.release([job.id]) == 1
    row = next(ledger.store.iter_jobs())
    assert (row.state, row.attempts, row.lease_owner) == (JobState.QUEUED, 0, None)


def test_replay_requeues_ended_jobs_but_not_committed(ledger: Ledger) -> None:
    a, b = (x.job for x in _admit(ledger, "a", "b"))
    ledger.finish([Failed(a, PermanentError("bad")), Done(b, _done("b"))])
    requeued = ledger.requeue([a.id, b.id])
    assert [(j.id, j.state) for j in requeued] == [(a.id, JobState.QUEUED)]


def test_audit_reconciles_with_the_ledger(ledger: Ledger) -> None:
    jobs = [x.job for x in _admit(ledger, "a", "b", "c")]
    ledger.finish([Done(jobs[0], _done("a")), Failed(jobs[1], PermanentError("x"))])
    report, states = ledger.verify()
    assert report.intact
    assert dict(report.final_states) == states == {"committed": 1, "rejected": 1, "running": 1}


def test_notes_of_a_failure_are_kept_on_the_job(ledger: Ledger) -> None:
    job = _admit(ledger, "a")[0].job
    error = QuarantineError("confidence 0.2", code="low_confidence")
    ledger.finish([Failed(job, error.with_notes({"routing": [{"page": 1, "decision": "ocr"}]}))])
    assert next(ledger.store.iter_jobs()).notes == {"routing": [{"page": 1, "decision": "ocr"}]}


def test_a_job_whose_worker_keeps_dying_ends_as_poison(ledger: Ledger, clock: Clock) -> None:
    # max_crashes=2: the second expired lease ends it instead of requeueing it forever.
    job = _admit(ledger, "a")[0].job
    for expected_crashes in (1,):
        clock.now += 31
        [job] = ledger.claim("p")
        assert (job.crashes, job.attempts) == (expected_crashes, 2)
    clock.now += 31
    assert ledger.claim("p") == []
    [row] = ledger.store.iter_jobs()
    assert (row.state, row.reason_code, row.crashes) == (JobState.DEAD, "poison", 2)

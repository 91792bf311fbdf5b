"""Pure decisions: job edges, retry policy, audit chain, magic-byte sniffing."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from parcelflow.core.audit import GENESIS, AuditEvent, verify_chain
from parcelflow.core.job import InvalidTransition, JobState, check_transition
from parcelflow.core.policies.retry import GiveUp, RetryAt, RetryPolicy
from parcelflow.documents.sniff import DocType, sniff
from parcelflow.errors import (
    PermanentError,
    QuarantineError,
    TransientError,
    WorkerCrashed,
    as_parcelflow_error,
)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("received", "queued"),
        ("queued", "running"),
        ("running", "committed"),
        ("running", "retry_wait"),
        ("retry_wait", "queued"),
        ("rejected", "queued"),
        ("running", "queued"),
        ("received", "rejected"),
    ],
)
def test_edges_of_the_state_machine(source: str, target: str) -> None:
    check_transition(JobState(source), JobState(target))


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("committed", "queued"),
        ("queued", "committed"),
        ("received", "running"),
        ("retry_wait", "running"),
        ("dead", "committed"),
    ],
)
def test_non_edges_are_refused(source: str, target: str) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(JobState(source), JobState(target))


def test_full_jitter_delays_stay_under_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=10, base=0.5, cap=4.0, rng=random.Random(7))
    for attempt in range(1, 9):
        decision = policy.decide(TransientError("x"), attempt, now=100.0)
        assert isinstance(decision, RetryAt)
        assert 0.0 <= decision.delay <= min(4.0, 0.5 * 2 ** (attempt - 1))
        assert decision.at == 100.0 + decision.delay


def test_retry_after_raises_the_delay() -> None:
    decision = RetryPolicy(base=0.1).decide(TransientError("429", retry_after=7.0), 1, now=0.0)
    assert isinstance(decision, RetryAt) and decision.delay == 7.0


def test_give_up_when_attempts_run_out_or_error_is_permanent() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.decide(TransientError("x"), 3, 0.0) == GiveUp(
        "retries_exhausted", "gave up after 3 attempts: x"
    )
    assert policy.decide(PermanentError("bad", code="corrupt"), 1, 0.0) == GiveUp("corrupt", "bad")
    quarantined = policy.decide(QuarantineError("low", code="low_confidence"), 1, 0.0)
    assert isinstance(quarantined, GiveUp) and quarantined.code == "low_confidence"


def test_crashes_become_poison() -> None:
    policy = RetryPolicy(max_attempts=10, max_crashes=2)
    assert isinstance(policy.decide(WorkerCrashed("died"), 1, 0.0, crashes=1), RetryAt)
    decision = policy.decide(WorkerCrashed("died"), 2, 0.0, crashes=2)
    assert isinstance(decision, GiveUp) and decision.code == "poison"


def test_library_errors_are_translated() -> None:
    assert isinstance(as_parcelflow_error(TimeoutError("t")), TransientError)
    assert isinstance(as_parcelflow_error(ConnectionResetError("r")), TransientError)
    odd = as_parcelflow_error(KeyError("k"))
    assert isinstance(odd, PermanentError) and odd.code == "unexpected_error"
    assert "KeyError" in odd.message


def _chain(n: int) -> list[AuditEvent]:
    events, head = [], (0, GENESIS)
    for i in range(n):
        e = AuditEvent.chained(
            head,
            at=float(i),
            job_id=i % 3,
            event="queued",
            from_state="received",
            to_state="committed" if i % 2 else "queued",
        )
        events.append(e)
        head = (e.seq, e.hash)
    return events


def test_intact_chain_verifies_and_counts_final_states() -> None:
    events = _chain(6)
    report = verify_chain(iter(events), (6, events[-1].hash))
    assert report.intact and report.events == 6
    assert sum(report.final_states.values()) == 3  # three jobs


def test_altered_event_is_named() -> None:
    events = _chain(5)
    events[2] = replace(events[2], to_state="rejected")
    report = verify_chain(iter(events), (5, events[-1].hash))
    assert report.broken_at == 3 and "altered" in (report.problem or "")


def test_removed_event_is_named() -> None:
    events = _chain(5)
    del events[1]
    report = verify_chain(iter(events), (5, events[-1].hash))
    assert report.broken_at == 3 and "missing" in (report.problem or "")


def test_truncated_tail_is_caught_by_the_head() -> None:
    events = _chain(5)
    report = verify_chain(iter(events[:4]), (5, events[-1].hash))
    assert not report.intact and report.broken_at == 5


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n", DocType.PDF),
        (b"\x89PNG\r\n\x1a\nxxxx", DocType.PNG),
        (b"\xff\xd8\xff\xe0", DocType.JPEG),
        (b"II*\x00abc", DocType.TIFF),
        (b"MM\x00*abc", DocType.TIFF),
        (b"PK\x03\x04junk", DocType.ZIP),
        (b"<!DOCTYPE html><html>", DocType.HTML),
        (b"LEASE AGREEMENT\nbetween", DocType.TEXT),
        (b"\x00\x01\x02\x03", DocType.UNKNOWN),
        (b"", DocType.EMPTY),
    ],
)
def test_sniff_by_magic_bytes(data: bytes, kind: DocType) -> None:
    assert sniff(data) == kind


def test_docx_is_told_from_zip_by_its_parts() -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    assert sniff(buffer.getvalue()) == DocType.DOCX


def test_errors_survive_pickling_with_their_code() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(TransientError("slow", code="timeout", retry_after=2.0)))
    assert (type(error), error.code, error.retry_after) == (TransientError, "timeout", 2.0)


def test_notes_survive_pickling() -> None:
    import pickle

    error = PermanentError("bad", code="corrupt").with_notes({"pages": 3})
    assert pickle.loads(pickle.dumps(error)).notes == {"pages": 3}


def test_job_readiness() -> None:
    from parcelflow.core.job import JobRow

    def job(state: str, **kw: float) -> JobRow:
        return JobRow(
            id=1,
            pipeline="p",
            key="k",
            source="s",
            batch="b",
            payload={},
            state=JobState(state),
            **kw,
        )  # type: ignore[arg-type]

    assert job("queued").ready(10.0)
    assert job("retry_wait", next_attempt_at=5.0).ready(10.0)
    assert not job("retry_wait", next_attempt_at=50.0).ready(10.0)
    assert job("running", lease_expires_at=5.0).ready(10.0)
    assert not job("running", lease_expires_at=50.0).ready(10.0)
    assert not job("committed").ready(10.0)

"""One contract, three stores: memory, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from parcelflow.core.audit import GENESIS, AuditEvent
from parcelflow.core.job import JobRow, JobState
from parcelflow.stores import MemoryStore, RecordRow, Store, SubmissionRow, open_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        s: Store = MemoryStore()
    elif request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'contract.db'}")
    else:
        s = open_store(request.getfixturevalue("pg_url"))
    yield s
    s.close()


def _job(key: str, state: JobState = JobState.QUEUED, **kw: object) -> JobRow:
    return JobRow(
        id=0,
        pipeline="p",
        key=key,
        source=f"/src/{key}",
        batch="b",
        payload={"path": f"/src/{key}"},
        state=state,
        created_at=1.0,
        updated_at=1.0,
        **kw,
    )  # type: ignore[arg-type]


def _insert(store: Store, *rows: JobRow) -> list[int]:
    with store.transaction() as tx:
        return tx.insert_jobs(list(rows))


def test_insert_assigns_ids_in_order_and_find_by_key(store: Store) -> None:
    ids = _insert(store, _job("a"), _job("b"), _job("c"))
    assert ids == sorted(ids) and len(set(ids)) == 3
    with store.transaction() as tx:
        found = tx.find_jobs("p", ["c", "a", "missing"])
    assert {k: j.id for k, j in found.items()} == {"a": ids[0], "c": ids[2]}
    assert found["a"].payload == {"path": "/src/a"}


def test_key_is_unique_per_pipeline(store: Store) -> None:
    _insert(store, _job("a"))
    with pytest.raises(Exception), store.transaction() as tx:  # noqa: B017
        tx.insert_jobs([_job("a")])
    _insert(store, replace(_job("a"), pipeline="other"))  # other pipeline: allowed


def test_transaction_rolls_back_everything(store: Store) -> None:
    [job_id] = _insert(store, _job("a"))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        job = tx.lock_jobs([job_id])[job_id]
        tx.update_jobs([replace(job, state=JobState.RUNNING, attempts=1)])
        tx.upsert_records([RecordRow("c", "k", job_id, {"x": 1}, "d1", 2.0)])
        head = tx.lock_audit_head()
        tx.append_audit(
            [
                AuditEvent.chained(
                    head,
                    at=2.0,
                    job_id=job_id,
                    event="claimed",
                    from_state="queued",
                    to_state="running",
                )
            ]
        )
        raise RuntimeError("boom")
    assert [j.state for j in store.iter_jobs()] == [JobState.QUEUED]
    assert list(store.iter_records("c")) == []
    assert store.audit_head() == (0, GENESIS)
    assert list(store.iter_audit()) == []


def test_update_round_trips_every_mutable_column(store: Store) -> None:
    [job_id] = _insert(store, _job("a"))
    changed = replace(
        _job("a"),
        id=job_id,
        state=JobState.RETRY_WAIT,
        attempts=2,
        crashes=1,
        next_attempt_at=9.5,
        lease_owner=None,
        reason_code="timeout",
        reason="slow",
        notes={"ocr": [1, 2]},
        result_digest=None,
        updated_at=3.0,
    )
    with store.transaction() as tx:
        tx.update_jobs([changed])
    assert list(store.iter_jobs()) == [changed]


def test_claimable_picks_ready_jobs_only(store: Store) -> None:
    ids = _insert(
        store,
        _job("queued"),
        _job("due", JobState.RETRY_WAIT, next_attempt_at=5.0),
        _job("later", JobState.RETRY_WAIT, next_attempt_at=50.0),
        _job("expired", JobState.RUNNING, lease_owner="x", lease_expires_at=5.0),
        _job("leased", JobState.RUNNING, lease_owner="x", lease_expires_at=50.0),
        _job("done", JobState.COMMITTED),
    )
    with store.transaction() as tx:
        ready = tx.claimable("p", 10.0, 100)
        assert [j.key for j in ready] == ["queued", "due", "expired"]
        assert [j.key for j in tx.claimable("p", 10.0, 1)] == ["queued"]
        assert [j.key for j in tx.claimable("p", 10.0, 100, ids=[ids[1]])] == ["due"]
        assert tx.claimable("other", 10.0, 100) == []


def test_leases_extend_for_their_owner_only(store: Store) -> None:
    _insert(
        store,
        _job("a", JobState.RUNNING, lease_owner="me", lease_expires_at=1.0),
        _job("b", JobState.RUNNING, lease_owner="you", lease_expires_at=1.0),
    )
    with store.transaction() as tx:
        assert tx.extend_leases("me", 99.0) == 1
        assert [j.key for j in tx.running_owned_by("m")] == ["a"]
    leases = {j.key: j.lease_expires_at for j in store.iter_jobs()}
    assert leases == {"a": 99.0, "b": 1.0}


def test_records_upsert_skips_unchanged_digest(store: Store) -> None:
    [job_id] = _insert(store, _job("a"))
    with store.transaction() as tx:
        tx.upsert_records([RecordRow("c", "k", job_id, {"v": 1}, "d1", 1.0)])
    with store.transaction() as tx:
        tx.upsert_records([RecordRow("c", "k", job_id + 1000, {"v": 1}, "d1", 2.0)])
    assert list(store.iter_records("c")) == [(job_id, "k", {"v": 1})]
    with store.transaction() as tx:
        tx.upsert_records([RecordRow("c", "k", job_id, {"v": 2}, "d2", 3.0)])
    assert list(store.iter_records("c")) == [(job_id, "k", {"v": 2})]
    assert store.collections() == ["c"]
    assert store.records_of_job(job_id) == [("c", "k", {"v": 2})]
    assert store.records_of_job(job_id + 1000) == []


def test_many_row_writes_match_row_by_row(store: Store) -> None:
    # PostgreSQL writes many rows as one statement (the rows as JSON): the result must be
    # what one statement per row gives, repeats and int clock values included.
    ids = _insert(store, *(replace(_job(k), created_at=1, updated_at=2) for k in "abc"))
    changed = [
        replace(
            _job(k),
            id=i,
            created_at=1,
            state=JobState.RUNNING,
            attempts=n,
            next_attempt_at=None if n % 2 else 7,
            lease_owner=f"w{n}",
            lease_expires_at=10 + n,
            notes={"n": n} if n else None,
            updated_at=5,
        )
        for n, (k, i) in enumerate(zip("abc", ids, strict=True))
    ]
    with store.transaction() as tx:
        tx.update_jobs(changed)
    assert list(store.iter_jobs()) == changed
    with store.transaction() as tx:
        tx.upsert_records([RecordRow("c", "k1", ids[0], {"v": 1}, "d1", 1.0)])
    with store.transaction() as tx:
        tx.upsert_records(
            [
                RecordRow("c", "k1", ids[1], {"v": 1}, "d1", 2),  # same digest: kept as is
                RecordRow("c", "k2", ids[1], {"v": 2}, "d2", 2),
                RecordRow("c", "k2", ids[2], {"v": 3}, "d3", 3),  # a repeat: the later one wins
                RecordRow("c", "k3", ids[2], {"v": 4}, "d4", 3),
            ]
        )
    assert sorted(store.iter_records("c"), key=lambda r: r[1]) == [
        (ids[0], "k1", {"v": 1}),
        (ids[2], "k2", {"v": 3}),
        (ids[2], "k3", {"v": 4}),
    ]


def test_submissions_count_per_batch(store: Store) -> None:
    ids = _insert(store, _job("a", JobState.COMMITTED), _job("b", JobState.REJECTED))
    with store.transaction() as tx:
        tx.upsert_submissions(
            [
                SubmissionRow("b1", "/x/a", ids[0], False, 1.0),
                SubmissionRow("b1", "/x/b", ids[1], False, 1.0),
                SubmissionRow("b2", "/y/a", ids[0], True, 2.0),
            ]
        )
    assert store.state_counts("b1") == {"committed": 1, "rejected": 1}
    assert store.state_counts("b2") == {}
    assert store.duplicate_count("b2") == 1
    assert store.state_counts() == {"committed": 1, "rejected": 1}
    assert store.batch_names() == ["b1", "b2"]
    assert [j.key for j in store.iter_jobs(batch="b2")] == ["a"]
    assert [j.key for j in store.iter_jobs(state="rejected")] == ["b"]


def test_audit_appends_and_streams_in_order(store: Store) -> None:
    [job_id] = _insert(store, _job("a"))
    with store.transaction() as tx:
        head = tx.lock_audit_head()
        first = AuditEvent.chained(
            head, at=1.5, job_id=job_id, event="queued", from_state="received", to_state="queued"
        )
        second = AuditEvent.chained(
            (first.seq, first.hash),
            at=2.25,
            job_id=job_id,
            event="claimed",
            from_state="queued",
            to_state="running",
        )
        tx.append_audit([first, second])
    assert list(store.iter_audit()) == [first, second]
    assert store.audit_head() == (2, second.hash)


def test_state_changes_read_only_the_audit_events_after_a_seq(store: Store) -> None:
    a, b = _insert(store, _job("a"), _job("b"))
    moves = [(a, "queued", "running"), (b, "queued", "running"), (a, "running", "committed")]
    with store.transaction() as tx:
        head, events = tx.lock_audit_head(), []
        for job_id, before, after in moves:
            event = AuditEvent.chained(
                head, at=1.0, job_id=job_id, event="x", from_state=before, to_state=after
            )
            head = (event.seq, event.hash)
            events.append(event)
        tx.append_audit(events)
    assert store.state_changes(0) == [
        (1, a, "running"),
        (2, b, "running"),
        (3, a, "committed"),
    ]
    assert store.state_changes(1) == [(2, b, "running"), (3, a, "committed")]
    assert store.state_changes(0, limit=1) == [(1, a, "running")]
    assert store.state_changes(3) == []


def test_guarded_update_only_touches_jobs_still_ours(store: Store) -> None:
    ids = _insert(
        store,
        _job("a", JobState.RUNNING, lease_owner="me"),
        _job("b", JobState.RUNNING, lease_owner="you"),
    )
    rows = [
        replace(_job(k), id=i, state=JobState.COMMITTED, lease_owner=None)
        for k, i in zip("ab", ids, strict=True)
    ]
    with store.transaction() as tx:
        assert tx.update_jobs_if(rows, "running", "me") == 1
    assert {j.key: j.state for j in store.iter_jobs()} == {
        "a": JobState.COMMITTED,
        "b": JobState.RUNNING,
    }


def test_recovery_scan_skips_rows_a_live_transaction_holds(
    request: pytest.FixtureRequest,
) -> None:
    # Two workers on one host: while one commits a group (its rows locked), the
    # other's start-up scan for jobs of dead processes must pass over those rows,
    # not wait for them while holding others (that deadlocked the two).
    url = request.getfixturevalue("pg_url")
    first, second = open_store(url), open_store(url)
    try:
        _insert(
            first,
            _job("busy", JobState.RUNNING, lease_owner="host:1:a", lease_expires_at=9.0),
            _job("free", JobState.RUNNING, lease_owner="host:2:b", lease_expires_at=9.0),
        )
        with first.transaction() as holder:
            (busy,) = [j for j in holder.running_owned_by("host:1:") if j.key == "busy"]
            holder.update_jobs([replace(busy, updated_at=2.0)])  # row lock held until commit
            with second.transaction() as scanner:
                # Fail, rather than hang the suite, if the scan ever waits again.
                scanner.conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")  # type: ignore[attr-defined]
                seen = [j.key for j in scanner.running_owned_by("host:")]
        assert seen == ["free"]
    finally:
        first.close()
        second.close()

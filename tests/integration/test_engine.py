"""The local engine driven in-process over the memory store and a real SQLite file.

Nothing here is mocked: the pipelines are small real ones (an ``async`` stage
that counts what is in flight, the ``inventory`` pipeline over real files), and
the one failure injected into the store is a real SQLite trigger.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from parcelflow.core.audit import verify_chain
from parcelflow.core.engine import Engine
from parcelflow.core.job import JobRow, JobState
from parcelflow.core.ledger import Admission, Done, Ledger, Verdict
from parcelflow.core.pipeline import Pipeline, Record, Result, Stage, StageInput, Submission
from parcelflow.errors import TransientError
from parcelflow.pipelines.inventory import INVENTORY
from parcelflow.settings import EngineSettings
from parcelflow.sources.files import file_submissions
from parcelflow.stores import MemoryStore, Store, open_store

WAIT_S = 10.0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else open_store(_sqlite(tmp_path))
    yield s
    s.close()


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'engine.db'}"


def _settings(**overrides: Any) -> EngineSettings:
    return EngineSettings(**{"processes": 0, "concurrency": 4, **overrides})


def _submissions(n: int, prefix: str = "item") -> list[Submission]:
    return [Submission(f"{prefix}-{i}", {"i": i}, key=f"{prefix}-key-{i}") for i in range(n)]


def _unused_identify(item: StageInput) -> str:
    raise AssertionError("submissions here carry their key")


def _pipeline(stage: Callable[[StageInput], Any], where: str = "async") -> Pipeline:
    return Pipeline(
        name="engine-test",
        collection="engine_test",
        submissions=lambda _specs, _options: iter(()),
        identify=Stage("identify", _unused_identify),
        stages=(Stage("work", stage, where=where),),  # type: ignore[arg-type]
    )


def _record(item: StageInput) -> Record:
    return Record("engine_test", item.key, {"i": item.payload["i"]})


def _jobs(store: Store) -> list[JobRow]:
    return list(store.iter_jobs())


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


# -- bounded concurrency and backpressure ------------------------------------------


async def test_in_flight_never_exceeds_concurrency(store: Store) -> None:
    gauge = {"now": 0, "peak": 0}

    async def tracked(item: StageInput) -> Record:
        gauge["now"] += 1
        gauge["peak"] = max(gauge["peak"], gauge["now"])
        await asyncio.sleep(0.002)
        gauge["now"] -= 1
        return _record(item)

    engine = Engine(Ledger(store), _pipeline(tracked), settings=_settings(concurrency=4))
    summary = await engine.run(_submissions(60), "bounded")

    assert summary.committed == 60
    assert gauge["peak"] == 4, "four at once: bounded, and actually concurrent"
    assert engine.peak_in_flight <= 4
    assert engine.in_flight == 0


async def test_source_is_pulled_only_as_fast_as_jobs_finish(store: Store) -> None:
    concurrency, admit_batch, total = 4, 8, 300
    pulled = 0
    gate = asyncio.Event()

    def source() -> Iterator[Submission]:
        nonlocal pulled
        for submission in _submissions(total):
            pulled += 1
            yield submission

    async def held(item: StageInput) -> Record:
        await gate.wait()
        return _record(item)

    settings = _settings(concurrency=concurrency, admit_batch=admit_batch)
    engine = Engine(Ledger(store), _pipeline(held), settings=settings)
    run = asyncio.create_task(engine.run(source(), "lazy"))
    await _until(lambda: engine.in_flight == concurrency, "the first jobs to start")
    await asyncio.sleep(0.2)  # give the feeder every chance to run ahead
    # In hand: `concurrency` running, `concurrency` claimed in the ready queue,
    # and at most one admission chunk waiting for room.
    assert pulled <= 2 * concurrency + admit_batch, f"pulled {pulled} while all were blocked"
    gate.set()
    summary = await asyncio.wait_for(run, WAIT_S * 3)
    assert pulled == total
    assert summary.committed == total


# -- files that vanish ----------------------------------------------------------------


def _folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(f"content of {name}\n")
    return folder


async def test_file_deleted_after_the_walk_is_rejected_vanished(
    store: Store, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, ["keep-1.txt", "gone.txt", "keep-2.txt"])
    walked = list(file_submissions([str(folder)]))
    (folder / "gone.txt").unlink()

    summary = await Engine(Ledger(store), INVENTORY, settings=_settings()).run(walked, "b")

    assert (summary.committed, summary.rejected) == (2, 1)
    states = {Path(j.source).name: (j.state, j.reason_code) for j in _jobs(store)}
    assert states["gone.txt"] == (JobState.REJECTED, "vanished")
    assert states["keep-1.txt"] == (JobState.COMMITTED, None)


async def test_file_deleted_after_it_was_keyed_is_rejected_vanished(
    store: Store, tmp_path: Path
) -> None:
    """Keyed at admission, gone when its stage reads it."""
    folder = _folder(tmp_path, ["gone.txt"])
    path = str(folder / "gone.txt")
    (folder / "gone.txt").unlink()
    keyed = Submission(path, {"path": path}, key="0" * 64)

    summary = await Engine(Ledger(store), INVENTORY, settings=_settings()).run([keyed], "b")

    assert summary.rejected == 1
    (job,) = _jobs(store)
    assert (job.state, job.reason_code, job.attempts) == (JobState.REJECTED, "vanished", 1)


# -- the record and the terminal transition are one transaction ------------------------


def _break_record_inserts(url: str) -> None:
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TRIGGER pf_test_no_records BEFORE INSERT ON pf_records "
            "BEGIN SELECT RAISE(ABORT, 'record store is failing'); END"
        )
        conn.commit()


def _mend_record_inserts(url: str) -> None:
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER pf_test_no_records")
        conn.commit()


def _audit_intact(store: Store) -> bool:
    return verify_chain(store.iter_audit(), store.audit_head()).intact


def test_failed_record_upsert_leaves_the_job_running(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    store = open_store(url)
    try:
        _break_record_inserts(url)
        ledger = Ledger(store)
        (admitted,) = ledger.admit("p", "b", [Admission("src", "key-1", {"i": 1})])
        assert admitted.verdict == Verdict.CLAIMED and admitted.job is not None
        events_before = len(list(store.iter_audit()))
        record = Record("engine_test", "key-1", {"i": 1})

        with pytest.raises(Exception, match="record store is failing"):
            ledger.finish([Done(admitted.job, Result(records=(record,)))])

        (job,) = _jobs(store)
        assert job.state == JobState.RUNNING
        assert job.result_digest is None
        assert list(store.iter_records("engine_test")) == []
        assert len(list(store.iter_audit())) == events_before, "no 'committed' event"
        assert _audit_intact(store)
    finally:
        store.close()


async def test_engine_commit_failure_commits_nothing_and_the_job_runs_again(
    tmp_path: Path,
) -> None:
    url = _sqlite(tmp_path)
    store = open_store(url)
    try:
        _break_record_inserts(url)
        pipeline = _pipeline(_record, where="inline")
        with pytest.raises(TransientError, match="could not commit to the ledger"):
            await Engine(Ledger(store), pipeline, settings=_settings()).run(_submissions(3), "b")
        # Handed back (or left to lease expiry), never committed without its record.
        assert {j.state for j in _jobs(store)} <= {JobState.QUEUED, JobState.RUNNING}
        assert list(store.iter_records("engine_test")) == []
        assert _audit_intact(store)

        _mend_record_inserts(url)
        again = await Engine(Ledger(store), pipeline, settings=_settings()).run(
            _submissions(3), "b"
        )
        assert again.committed == 3
        assert len(list(store.iter_records("engine_test"))) == 3
        assert {j.state for j in _jobs(store)} == {JobState.COMMITTED}
        assert _audit_intact(store)
    finally:
        store.close()


# -- leases -----------------------------------------------------------------------------


async def test_heartbeat_extends_the_lease_of_running_jobs(store: Store) -> None:
    gate = asyncio.Event()

    async def held(item: StageInput) -> Record:
        await gate.wait()
        return _record(item)

    settings = _settings(lease_s=2.0, heartbeat_s=0.05)
    engine = Engine(Ledger(store, lease_s=settings.lease_s), _pipeline(held), settings=settings)
    run = asyncio.create_task(engine.run(_submissions(2), "beat"))
    try:
        await _until(lambda: engine.in_flight == 2, "both jobs to start")
        first = {j.id: j.lease_expires_at or 0.0 for j in _jobs(store)}
        await asyncio.sleep(0.4)
        later = {j.id: j.lease_expires_at or 0.0 for j in _jobs(store)}
        assert all(later[i] >= first[i] + 0.2 for i in first), (first, later)
        assert all(j.state == JobState.RUNNING for j in _jobs(store))
    finally:
        gate.set()
        summary = await asyncio.wait_for(run, WAIT_S)
    assert summary.committed == 2


async def test_expired_lease_is_reclaimed_by_another_engine_and_committed_once(
    store: Store,
) -> None:
    # Engine A, on another machine, claims the job and then goes silent.
    gone = Ledger(store, owner="elsewhere:4242:a1b2c3d4", lease_s=0.05)
    submission = _submissions(1)[0]
    (admitted,) = gone.admit(
        "engine-test", "b", [Admission(submission.source, str(submission.key), submission.payload)]
    )
    assert admitted.job is not None and admitted.job.state == JobState.RUNNING
    await asyncio.sleep(0.1)

    survivor = Ledger(store, lease_s=5.0)
    assert survivor.owner != gone.owner
    pipeline = _pipeline(_record, where="inline")
    summary = await Engine(survivor, pipeline, settings=_settings()).run([submission], "b")
    assert summary.committed == 1

    (job,) = _jobs(store)
    assert (job.state, job.attempts) == (JobState.COMMITTED, 2)
    events = [e.event for e in store.iter_audit() if e.job_id == job.id]
    assert events.count("reclaimed") == 1 and events.count("committed") == 1

    # A's late result is stale: nothing is written for it.
    late = Result(records=(Record("engine_test", job.key, {"i": "late"}),))
    (finished,) = gone.finish([Done(admitted.job, late)])
    assert finished.stale
    assert [f for _job_id, _key, f in store.iter_records("engine_test")] == [{"i": 0}]
    assert _audit_intact(store)


# -- ledger transactions per job -------------------------------------------------------


class _CountingLedger(Ledger):
    """The real ledger, counting the transactions the engine asks of it."""

    claims = 0
    finishes = 0

    def claim(self, *args: Any, **kwargs: Any) -> list[JobRow]:
        self.claims += 1
        return super().claim(*args, **kwargs)

    def finish(self, outcomes: Any) -> Any:
        self.finishes += 1
        return super().finish(outcomes)


def _cpu_record(item: StageInput) -> Record:
    """About a millisecond of real CPU work that, like PDFium, runs without the GIL."""
    block = str(item.payload["i"]).encode() * 65_536
    digest = hashlib.sha256()
    for _ in range(4):
        digest.update(block)
    return Record("engine_test", item.key, {"i": item.payload["i"], "h": digest.hexdigest()})


async def test_jobs_ending_one_by_one_share_claims_and_commits(store: Store) -> None:
    # A Celery child: no process pool, CPU stages one at a time on one thread, so jobs
    # end one by one. Claims refill half the slots at once and each commit waits
    # briefly for the jobs still running, instead of a claim and a commit per job.
    total, concurrency = 96, 16
    ledger = _CountingLedger(store)
    admitted = ledger.admit(
        "engine-test",
        "b",
        [Admission(s.source, str(s.key), s.payload) for s in _submissions(total)],
        claim=False,
    )
    ids = [a.job.id for a in admitted if a.job is not None]
    settings = _settings(concurrency=concurrency, commit_linger_s=0.05)
    engine = Engine(ledger, _pipeline(_cpu_record, where="process"), settings=settings)

    summary = await engine.drain(ids=ids, batch="b")

    assert summary.committed == total
    assert {j.state for j in _jobs(store)} == {JobState.COMMITTED}
    assert ledger.claims <= total // (concurrency // 2) + 1
    assert ledger.finishes <= total // 4
    assert engine.peak_in_flight <= concurrency
    assert _audit_intact(store)


async def test_after_the_last_claim_a_group_does_not_wait_for_jobs_already_committed(
    store: Store,
) -> None:
    # Groups of at most 10: while one commit returns, its jobs still count as in
    # flight until their workers resume. The next group must not wait for them
    # (only the linger would end that wait); it goes once no job is in its stages.
    total, linger = 45, 30.0
    ledger = _CountingLedger(store)
    admitted = ledger.admit(
        "engine-test",
        "b",
        [Admission(s.source, str(s.key), s.payload) for s in _submissions(total)],
        claim=False,
    )
    ids = [a.job.id for a in admitted if a.job is not None]
    settings = _settings(concurrency=128, commit_batch=10, commit_linger_s=linger)
    engine = Engine(ledger, _pipeline(_cpu_record, where="process"), settings=settings)

    summary = await engine.drain(ids=ids, batch="b")

    assert summary.committed == total
    assert ledger.finishes >= total // 10
    assert summary.elapsed_s < linger / 2, "a commit group sat out the linger"
    assert _audit_intact(store)

"""The local engine: a bounded asyncio runner over the ledger.

::

    source ─(thread, lazily)─► identify ─► ledger.admit ─► ready queue ─► N workers
       ▲ bounded: admission waits when the ready queue is full      │ stages
       └────────────────────────────────────────────────────────────┤
                          group commit ◄── ledger.finish ◄──────────┘

Concurrency is bounded in one place: ``concurrency`` worker coroutines, each
running one job at a time, so in-flight jobs never exceed it. The source is
pulled only as fast as workers free up (the ready queue holds at most
``concurrency`` claimed jobs). Every ledger call runs on one dedicated thread
(SQLite connections stay on the thread that made them; the event loop never
blocks on the database). Finished jobs are committed in groups: whatever
outcomes are waiting when the previous commit returns go in the next one.

The engine keeps counters, not per-job state: once a job ends nothing of it
stays in memory, so memory is flat however large the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from parcelflow.core.job import JobRow, JobState
from parcelflow.core.ledger import (
    Admission,
    Admitted,
    Done,
    Failed,
    Finished,
    Ledger,
    Outcome,
    Verdict,
)
from parcelflow.core.pipeline import (
    Pipeline,
    Record,
    Result,
    RunContext,
    Stage,
    StageInput,
    Submission,
)
from parcelflow.core.pool import ProcessDispatcher, ThreadDispatcher, run_stages
from parcelflow.errors import (
    PermanentError,
    TransientError,
    WorkerCrashed,
    as_parcelflow_error,
    first_line,
)
from parcelflow.settings import EngineSettings
from parcelflow.sources.files import rejection_key

__all__ = ["Engine", "JobObserver", "RunSummary"]


class JobObserver(Protocol):
    """Told when each job starts and ends (metrics)."""

    def started(self, pipeline: str) -> float:
        """A job began; the value returned is handed back to :meth:`ended`."""
        ...

    def ended(self, pipeline: str, outcome: str, started: float) -> None:
        """A job reached ``outcome``."""
        ...


log = logging.getLogger(__name__)
T = TypeVar("T")

_FIRST_CLAIM = 8  # jobs in the first claim of a run given its ids (a Celery shard)
_DB_RETRIES = 6  # a dropped database connection is retried this many times, with backoff


@dataclass
class RunSummary:
    """Counts of one run, by how each submission ended."""

    batch: str
    total: int = 0
    committed: int = 0
    duplicate: int = 0
    rejected: int = 0
    quarantined: int = 0
    dead: int = 0
    retried: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    report: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def ended(self) -> int:
        """Submissions that reached a final verdict in this run."""
        return self.committed + self.duplicate + self.rejected + self.quarantined + self.dead

    @property
    def pending(self) -> int:
        """Submissions not ended (only after an interruption)."""
        return self.total - self.ended

    @property
    def failed(self) -> int:
        """Jobs that ended other than committed."""
        return self.rejected + self.quarantined + self.dead

    def count(self, state: str) -> None:
        """Add one job that ended in ``state`` (a terminal state or ``duplicate``)."""
        setattr(self, state, getattr(self, state) + 1)

    def as_json(self) -> dict[str, Any]:
        """The ``run --json`` object."""
        return {
            "batch": self.batch,
            "total": self.total,
            "committed": self.committed,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "quarantined": self.quarantined,
            "dead": self.dead,
            "pending": self.pending,
            "retried": self.retried,
            "interrupted": self.interrupted,
            "elapsed_s": round(self.elapsed_s, 3),
            "report": self.report,
        }


class _Isolation:
    """Jobs run side by side, except one that must run alone (writer-preferring)."""

    def __init__(self) -> None:
        self._running = 0
        self._alone = False
        self._waiting_alone = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def turn(self, *, alone: bool) -> AsyncIterator[None]:
        """Hold a turn: shared, or ``alone`` (nothing else runs meanwhile)."""
        async with self._changed:
            if alone:
                self._waiting_alone += 1
                await self._changed.wait_for(lambda: self._running == 0 and not self._alone)
                self._waiting_alone -= 1
                self._alone = True
            else:
                await self._changed.wait_for(lambda: not self._alone and not self._waiting_alone)
            self._running += 1
        try:
            yield
        finally:
            async with self._changed:
                self._running -= 1
                if alone:
                    self._alone = False
                self._changed.notify_all()


def _groups(stages: Sequence[Stage]) -> list[tuple[str, tuple[Stage, ...]]]:
    """Consecutive process stages fused into one trip to the pool."""
    groups: list[tuple[str, tuple[Stage, ...]]] = []
    for stage in stages:
        if stage.where == "process" and groups and groups[-1][0] == "process":
            groups[-1] = ("process", (*groups[-1][1], stage))
        else:
            groups.append((stage.where, (stage,)))
    return groups


class Engine:
    """Runs one pipeline's jobs to the end, locally, with bounded concurrency.

    Subclasses may change how admitted jobs are run (the Celery coordinator
    queues them for remote workers instead of claiming them).

    Args:
        ledger: where jobs are admitted, claimed and finished.
        pipeline: what to run.
        options: the pipeline's options (an instance of ``pipeline.options``).
        settings: concurrency, processes, leases, grace period.
    """

    claim_on_admit = True

    def __init__(
        self,
        ledger: Ledger,
        pipeline: Pipeline,
        options: BaseModel | None = None,
        settings: EngineSettings | None = None,
    ) -> None:
        self.ledger = ledger
        self.pipeline = pipeline
        self.options = options if options is not None else pipeline.options()
        self.settings = settings or EngineSettings()
        self.summary = RunSummary(batch="")
        self._groups = _groups(pipeline.stages)
        self.observer: JobObserver | None = None
        self._stop = asyncio.Event()
        self._abort = asyncio.Event()
        self.in_flight = 0  # claimed jobs a worker holds, until their commit returns
        self._executing = 0  # of those, the ones still in their stages
        self.peak_in_flight = 0
        self._fed = False
        self._admit_size = self.settings.admit_batch  # submissions per admission transaction

    @property
    def source_done(self) -> bool:
        """Whether every submission has been admitted (the total is known)."""
        return self._fed

    # -- public ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; in-flight jobs get the grace period to finish.

        A second call ends the grace period at once: in-flight jobs are handed
        back to the queue for the next run.
        """
        if self._stop.is_set():
            self._abort.set()
        self._stop.set()

    async def run(self, submissions: Iterable[Submission], batch: str) -> RunSummary:
        """Admit ``submissions`` into ``batch`` and run every job to an end.

        Returns when every submission has ended, or after :meth:`stop` once
        in-flight work has finished or been released. When every job ended, the
        pipeline's ``finish`` hook adds its report lines to the summary.
        """
        summary = await self._run(batch, lambda: self._admit_all(iter(submissions), batch))
        finish = self.pipeline.finish
        if finish is not None and not summary.interrupted:
            context = RunContext(self.ledger.store, batch)
            summary.report = await asyncio.to_thread(finish, context, self.options)
        return summary

    async def drain(self, *, ids: Sequence[int] | None = None, batch: str = "") -> RunSummary:
        """Run jobs already in the ledger (replay, resume): the given ids, or all ready."""
        return await self._run(batch, lambda: self._claim_all(ids))

    # -- orchestration ---------------------------------------------------------

    async def _run(self, batch: str, feed: Callable[[], Any]) -> RunSummary:
        self.summary = RunSummary(batch=batch)
        self._ready: asyncio.Queue[JobRow] = asyncio.Queue(self.settings.concurrency)
        self._finishing: asyncio.Queue[tuple[Outcome, asyncio.Future[Finished]] | None] = (
            asyncio.Queue()
        )
        self._waiting: dict[int, float] = {}
        self._tracked: set[int] = set()  # claimed in this run, not yet ended
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._fed = False
        self._failure: BaseException | None = None
        self._all_done = asyncio.Event()
        self._isolation = _Isolation()
        self._start_executors()
        try:
            await self._db_call(self.ledger.recover_local)
            await self._supervise(feed)
        finally:
            self._stop_executors()
        self.summary.elapsed_s = time.monotonic() - self.summary.started
        return self.summary

    def _start_executors(self) -> None:
        """The ledger's thread, the thread for CPU stages when there is no pool, the pool."""
        self._db = ThreadPoolExecutor(1, thread_name_prefix="parcelflow-ledger")
        self._serial = ThreadDispatcher()
        self._pool = self._make_pool()

    def _stop_executors(self) -> None:
        if self._pool is not None:
            self._pool.close(kill=self._stop.is_set())
        self._db.shutdown(wait=True)
        self._serial.close()

    def _make_pool(self) -> ProcessDispatcher | None:
        modules = self.pipeline.stage_modules(where="process")
        if self.settings.processes <= 0 or not modules:
            return None
        return ProcessDispatcher(self.settings.processes, preload=modules)

    async def _supervise(self, feed: Callable[[], Any]) -> None:
        committer = asyncio.create_task(self._commit_loop())
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        feeder = asyncio.create_task(self._feed(feed))
        retrier = asyncio.create_task(self._retry_loop())
        self._workers = {
            asyncio.create_task(self._worker()): False for _ in range(self.settings.concurrency)
        }
        feeder.add_done_callback(self._feeder_ended)
        stopped = asyncio.create_task(self._stop.wait())
        done = asyncio.create_task(self._all_done.wait())
        try:
            await asyncio.wait({stopped, done}, return_when=asyncio.FIRST_COMPLETED)
            self.summary.interrupted = not self._all_done.is_set() and self._failure is None
            await self._wind_down(feeder, retrier)
        finally:
            for task in (feeder, retrier, stopped, done, heartbeat):
                task.cancel()
            await self._finishing.put(None)
            await committer
            if self._tracked:  # some job this run claimed has not ended: hand it back
                await self._db_call(self._release_ours)
        if self._failure is not None:
            raise self._failure

    def _fail_run(self, error: BaseException) -> None:
        """Stop the run because of ``error``; it is raised once everything is handed back."""
        if self._failure is None:
            self._failure = error
        self._stop.set()

    def _feeder_ended(self, feeder: asyncio.Task[None]) -> None:
        if not feeder.cancelled() and feeder.exception() is not None:
            self._fail_run(feeder.exception())  # type: ignore[arg-type]

    async def _wind_down(self, feeder: asyncio.Task[None], retrier: asyncio.Task[None]) -> None:
        feeder.cancel()
        retrier.cancel()
        idle = [t for t, busy in self._workers.items() if not busy]
        busy = [t for t, busy in self._workers.items() if busy]
        for task in idle:
            task.cancel()
        if busy:
            await self._grace(set(busy))
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _grace(self, busy: set[asyncio.Task[None]]) -> None:
        """Let busy workers finish, until the grace period ends or a second stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.grace_s
        abort = asyncio.create_task(self._abort.wait())
        pending: set[asyncio.Task[Any]] = set(busy)
        while pending and not abort.done() and loop.time() < deadline:
            _, pending = await asyncio.wait(
                pending | {abort},
                timeout=deadline - loop.time(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            pending.discard(abort)
        abort.cancel()
        for task in pending:
            task.cancel()  # its job is handed back to the queue by _release_ours

    def _release_ours(self) -> int:
        with self.ledger.store.transaction() as tx:
            ours = [j.id for j in tx.running_owned_by(self.ledger.owner)]
        return self.ledger.release(ours) if ours else 0

    # -- database thread -------------------------------------------------------

    async def _db_call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        for attempt in range(1, _DB_RETRIES + 1):
            try:
                return await loop.run_in_executor(self._db, fn, *args)
            except DBAPIError as exc:
                if (
                    not (exc.connection_invalidated or _is_operational(exc))
                    or attempt == _DB_RETRIES
                ):
                    raise
                delay = min(10.0, 0.2 * 2**attempt)
                log.warning("database unavailable (%s); retrying in %.1fs", first_line(exc), delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- admission -------------------------------------------------------------

    async def _feed(self, feed: Callable[[], Any]) -> None:
        await feed()
        self._fed = True
        self._check_done()

    async def _admit_all(self, submissions: Iterator[Submission], batch: str) -> None:
        size = self._admit_size
        while not self._stop.is_set():
            chunk = await asyncio.to_thread(lambda: list(islice(submissions, size)))
            if not chunk:
                return
            admissions = await asyncio.gather(*(self._identify(s) for s in chunk))
            admitted = await self._db_call(
                partial(self.ledger.admit, claim=self.claim_on_admit),
                self.pipeline.name,
                batch,
                admissions,
            )
            self.summary.total += len(admitted)
            for verdict in admitted:
                await self._take(verdict)

    async def _identify(self, submission: Submission) -> Admission:
        if submission.error is not None:
            error = as_parcelflow_error(submission.error)
            return Admission(
                submission.source,
                submission.key or rejection_key(submission.source),
                submission.payload,
                error,
            )
        if submission.key is not None:
            return Admission(submission.source, submission.key, submission.payload)
        item = StageInput(0, "", submission.source, submission.payload, None, self.options)
        try:
            key = await self._run_group(
                self.pipeline.identify.where, (self.pipeline.identify,), item
            )
        except Exception as exc:
            error = as_parcelflow_error(exc)
            if isinstance(error, TransientError) and not isinstance(error, WorkerCrashed):
                # Not this input's fault (the pool or the disk is failing): stop the
                # run rather than reject every file under a name-based key.
                raise TransientError(
                    f"could not compute the key of {submission.source}: {error.message}",
                    code=error.code,
                ) from exc
            if not isinstance(error, PermanentError):
                error = PermanentError(error.message, code=error.code)
            return Admission(
                submission.source, rejection_key(submission.source), submission.payload, error
            )
        return Admission(submission.source, str(key), submission.payload)

    async def _take(self, admitted: Admitted) -> None:
        job = admitted.job
        if job is not None and job.id in self._tracked:
            self.summary.count("duplicate")  # this run already has it in hand
        elif admitted.verdict == Verdict.CLAIMED and job is not None:
            self._tracked.add(job.id)
            await self._ready.put(job)
        elif admitted.verdict == Verdict.WAITING and job is not None:
            self._tracked.add(job.id)
            self._wait(job.id, job.next_attempt_at or 0.0)
        else:
            self.summary.count(admitted.verdict.value)

    async def _claim_all(self, ids: Sequence[int] | None) -> None:
        if ids is None:
            await self._claim_ready()
        else:
            await self._claim_until_ended(list(dict.fromkeys(ids)))

    async def _claim_ready(self) -> None:
        """Claim every job that is ready now, page by page."""
        while not self._stop.is_set():
            claimed = await self._db_call(partial(self.ledger.claim, self.pipeline.name, limit=500))
            if not claimed:
                return
            self.summary.total += len(claimed)
            for job in claimed:
                await self._take(Admitted(Verdict.CLAIMED, job))

    async def _claim_until_ended(self, pending: list[int]) -> None:
        """Run the given jobs; wait out the ones someone else holds until they end.

        A redelivered shard finds its jobs done; a job held by a live worker is
        left to it, and taken over once its lease expires.
        """
        self.summary.total += len(pending)
        poll = min(2.0, self.ledger.lease_s / 4)
        while pending and not self._stop.is_set():
            suspects = await self._suspects(pending) if self._pool is None else set()
            taken = await self._claim_as_free([i for i in pending if i not in suspects])
            for job_id in suspects:
                taken |= await self._claim_alone(job_id)
            pending = await self._still_elsewhere([i for i in pending if i not in taken])
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), poll)

    async def _claim_as_free(self, ids: list[int]) -> set[int]:
        """Claim ``ids`` only as workers free up; return the ids claimed.

        A job is ``running`` in the ledger only while a worker runs it, so if
        the process dies, the crash is charged to the jobs it was running.
        """
        taken: set[int] = set()
        start = 0
        while start < len(ids) and not self._stop.is_set():
            # Refill when half the workers are free, not at each free one: a claim is
            # a transaction, and one per job would double the ledger's writes.
            wanted = min(len(ids) - start, max(1, self.settings.concurrency // 2))
            free = await self._free_slots(wanted)
            if start == 0:
                # A few first, so the stages start while the rest are claimed (a claim
                # of a hundred jobs takes ~20 ms, which the stages would sit out).
                free = min(free, _FIRST_CLAIM)
            part = ids[start : start + free]
            start += len(part)
            claimed = await self._db_call(
                partial(self.ledger.claim, self.pipeline.name, limit=len(part), ids=part)
            )
            for job in claimed:
                taken.add(job.id)
                await self._take(Admitted(Verdict.CLAIMED, job))
        return taken

    async def _claim_alone(self, job_id: int) -> set[int]:
        """Run one job that crashed its worker before, with nothing else claimed meanwhile."""
        await self._idle()
        if self._stop.is_set():
            return set()
        claimed = await self._db_call(
            partial(self.ledger.claim, self.pipeline.name, limit=1, ids=[job_id])
        )
        for job in claimed:
            await self._take(Admitted(Verdict.CLAIMED, job))
        await self._idle()
        return {job.id for job in claimed}

    async def _suspects(self, ids: list[int]) -> set[int]:
        """Jobs among ``ids`` that crashed a worker before (run alone, when there is no pool)."""
        rows = await self._db_call(lambda: list(self.ledger.store.iter_jobs(ids=ids)))
        return {row.id for row in rows if row.crashes > 0 and not row.terminal}

    async def _idle(self) -> None:
        """Wait until no job is claimed or running in this engine."""
        while self.in_flight or self._ready.qsize():
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _free_slots(self, wanted: int = 1) -> int:
        """Wait until ``wanted`` workers are free; return how many are (at most 500)."""
        while True:
            free = self.settings.concurrency - self.in_flight - self._ready.qsize()
            if free >= wanted:
                return min(free, 500)
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _still_elsewhere(self, ids: list[int]) -> list[int]:
        """Count the jobs among ``ids`` that have ended; return those still unfinished."""
        if not ids:
            return []
        rows = await self._db_call(lambda: list(self.ledger.store.iter_jobs(ids=ids)))
        found = {row.id for row in rows}
        self.summary.total -= len(set(ids) - found)  # unknown ids are not this run's jobs
        unfinished = []
        for row in rows:
            if row.id in self._tracked:
                continue
            if row.terminal:
                ended = "duplicate" if row.state == JobState.COMMITTED else row.state.value
                self.summary.count(ended)
            else:
                unfinished.append(row.id)
        return unfinished

    # -- retries ---------------------------------------------------------------

    def _wait(self, job_id: int, at: float) -> None:
        self._waiting[job_id] = at
        self._wake.set()

    async def _retry_loop(self) -> None:
        while True:
            self._wake.clear()
            if not self._waiting:
                await self._wake.wait()
                continue
            delay = min(self._waiting.values()) - self.ledger.clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            await self._claim_due()

    async def _claim_due(self) -> None:
        now = self.ledger.clock()
        due = [job_id for job_id, at in self._waiting.items() if at <= now]
        claimed = await self._db_call(
            partial(self.ledger.claim, self.pipeline.name, limit=len(due), ids=due)
        )
        for job_id in due:
            del self._waiting[job_id]
        taken = {job.id for job in claimed}
        for job_id in due:
            if job_id not in taken:  # ended elsewhere meanwhile: reconcile on the next admit
                self._tracked.discard(job_id)
                self.summary.count("duplicate")
        for job in claimed:
            self.summary.retried += 1
            await self._ready.put(job)
        self._check_done()

    # -- workers ---------------------------------------------------------------

    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stop.is_set():
            job = await self._ready.get()
            self._workers[me] = True
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            started = self.observer.started(self.pipeline.name) if self.observer else 0.0
            # Without a pool a crash takes the whole process down with every job in
            # it: a job that crashed before runs alone, so the next crash is its own.
            alone = self._pool is None and job.crashes > 0
            try:
                async with self._isolation.turn(alone=alone):
                    self._executing += 1
                    try:
                        outcome = await self._execute(job)
                    finally:
                        self._executing -= 1
                finished = await self._finish(outcome)
            finally:
                self.in_flight -= 1
                self._workers[me] = False
                self._slot_freed.set()
            if self.observer:
                self.observer.ended(self.pipeline.name, finished.state.value, started)
            self._account(finished)

    async def _execute(self, job: JobRow) -> Outcome:
        try:
            data: Any = None
            for where, stages in self._groups:
                item = StageInput(
                    job.id, job.key, job.source, job.payload, data, self.options, job.attempts
                )
                data = await self._run_group(where, stages, item)
            return Done(job, _as_result(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = as_parcelflow_error(exc)
            if error.code == "unexpected_error":
                log.warning("job %s (%s) failed unexpectedly", job.id, job.source, exc_info=exc)
            return Failed(job, error)

    async def _run_group(self, where: str, stages: tuple[Stage, ...], item: StageInput) -> Any:
        fns: list[Any] = [stage.fn for stage in stages]
        if where == "process" and self._pool is not None:
            return await self._pool.call(fns, item)
        if where == "process":
            # No pool (a Celery child, --processes 0): CPU stages take turns on one
            # thread; the event loop stays free.
            return await self._serial.call(fns, item)
        if where == "thread":
            return await asyncio.to_thread(run_stages, fns, item)
        if where == "async":
            data = item.data
            for fn in fns:
                data = await fn(replace(item, data=data))
            return data
        return run_stages(fns, item)

    async def _finish(self, outcome: Outcome) -> Finished:
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        await self._finishing.put((outcome, future))
        return await future

    def _account(self, finished: Finished) -> None:
        if finished.state == JobState.RETRY_WAIT and not finished.stale:
            self._wait(finished.job_id, finished.next_attempt_at or 0.0)
            return
        self._tracked.discard(finished.job_id)
        state = (
            finished.state.value
            if finished.state.value in ("committed", "rejected", "quarantined", "dead")
            else "duplicate"
        )
        self.summary.count(state)
        self._check_done()

    def _check_done(self) -> None:
        if self._fed and not self._tracked:
            self._all_done.set()

    # -- group commit ----------------------------------------------------------

    async def _commit_loop(self) -> None:
        closing = False
        while not closing:
            first = await self._finishing.get()
            if first is None:
                break
            group = [first]
            closing = await self._gather_outcomes(group)
            await self._commit(group)

    async def _gather_outcomes(self, group: list[tuple[Outcome, asyncio.Future[Finished]]]) -> bool:
        """Add waiting outcomes to ``group``; True when the loop must close after it.

        While most jobs in flight are still running, wait up to ``commit_linger_s``
        for more of them: a commit costs about the same however many outcomes it
        carries, and concurrent writers take turns on the audit chain's head, so
        jobs that end one by one (a Celery child runs its CPU stages one at a time)
        would otherwise commit one by one, at several times the ledger's cost per
        job. While jobs are still being claimed, a commit goes once half of the
        uncommitted ones wait here, to free their slots for claims; after the
        last claim, once no job is still running its stages (or the linger is
        up), so that the batch's tail does not commit in ever smaller groups.
        Jobs of a commit that has just returned are not waited for: they are
        still counted in flight until their workers resume.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.commit_linger_s
        while len(group) < self.settings.commit_batch:
            if self._finishing.empty():
                wait = deadline - loop.time()
                running = self._executing
                done = running == 0 if self._fed else len(group) >= running
                if wait <= 0 or done:
                    return False
                try:
                    item = await asyncio.wait_for(self._finishing.get(), wait)
                except TimeoutError:
                    return False
            else:
                item = self._finishing.get_nowait()
            if item is None:
                return True
            group.append(item)
        return False

    async def _commit(self, group: list[tuple[Outcome, asyncio.Future[Finished]]]) -> None:
        try:
            finished = await self._db_call(self.ledger.finish, [o for o, _ in group])
        except Exception as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            self._fail_run(
                TransientError(f"could not commit to the ledger: {first_line(exc)}", code="ledger")
            )
            return
        for (_, future), result in zip(group, finished, strict=True):
            if not future.done():
                future.set_result(result)

    # -- leases ----------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self._db_call(self.ledger.heartbeat)
            except Exception as exc:  # a missed beat is survivable; the lease has slack
                log.warning("lease heartbeat failed: %s", first_line(exc))


def _as_result(data: Any) -> Result:
    if isinstance(data, Result):
        return data
    if isinstance(data, Record):
        return Result(records=(data,))
    raise PermanentError(
        f"the last stage returned {type(data).__name__}, not a Result or Record",
        code="pipeline_error",
    )


def _is_operational(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)

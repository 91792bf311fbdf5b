"""``parcelflow run --backend celery``: admit jobs, send shards, follow the ledger.

The coordinator hashes and admits submissions exactly as the local engine does
(so idempotency and duplicates are the same), but leaves new jobs ``queued``
and sends their ids to Celery in shards of ``shard_size``. It then follows the
ledger's audit trail, from where it stood before admission, until every job it
queued has ended: progress and the summary come from the ledger, whichever
workers ran the jobs. Each poll reads only the events written since the last
one, so following a batch of any size costs about what has changed.

If no job ends for ``stall_s`` while some are still unfinished (a worker was
killed and its reserved shard will only come back after the broker's
visibility timeout), the jobs that are ready to claim are sent again in new
shards; a copy that finds its jobs taken or done does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from pydantic import BaseModel

from parcelflow.core.engine import Engine, RunSummary
from parcelflow.core.job import TERMINAL, JobState
from parcelflow.core.ledger import Admitted, Ledger, Verdict
from parcelflow.core.pipeline import Pipeline
from parcelflow.core.pool import ProcessDispatcher
from parcelflow.distributed.app import QUEUE, SHARD_TASK
from parcelflow.errors import ConfigError, first_line
from parcelflow.settings import EngineSettings

__all__ = ["CeleryCoordinator"]

log = logging.getLogger(__name__)

_ENDED = tuple(s.value for s in TERMINAL)
_CHANGES_PER_READ = 10_000
_PUBLISH_RETRY = {
    "max_retries": 60,
    "interval_start": 0.5,
    "interval_step": 0.5,
    "interval_max": 5.0,
}


class _Stopped(Exception):
    """The run was stopped while it waited for the broker."""


class CeleryCoordinator(Engine):
    """Admits a batch into the ledger and has Celery workers run it.

    Args:
        app: the Celery app (its broker receives the shards).
        db_url: the ledger's URL, sent with each shard.
        shard_size: jobs per shard message.
        stall_s: seconds without any job ending before ready jobs are re-sent.
    """

    claim_on_admit = False

    def __init__(
        self,
        ledger: Ledger,
        pipeline: Pipeline,
        options: BaseModel | None,
        settings: EngineSettings,
        *,
        app: Celery,
        db_url: str,
        shard_size: int = 100,
        stall_s: float | None = None,
        poll_s: float = 1.0,
    ) -> None:
        super().__init__(ledger, pipeline, options, settings)
        self._app = app
        self._db_url = db_url
        self._shard_size = shard_size
        self._stall_s = settings.stall_s if stall_s is None else stall_s
        self._poll_s = poll_s
        self._buffer: list[int] = []
        self.shards_sent = 0
        # Admit a shard's worth at a time: the first shard leaves as soon as its
        # jobs are keyed, not after a whole admission batch (idle workers meanwhile).
        self._admit_size = min(settings.admit_batch, shard_size)

    def _make_pool(self) -> ProcessDispatcher | None:
        # Only keys are computed here (the workers run the stages): SHA-256 runs at
        # ~1 GB/s on one core with the GIL released, so a process pool would only take
        # cores from the workers while it starts (~0.2 s) and pickle every call.
        return None

    # -- admission: queue and ship instead of claiming ----------------------------

    async def _take(self, admitted: Admitted) -> None:
        job = admitted.job
        if job is not None and job.id in self._states:
            self.summary.count("duplicate")  # this run already has it in hand
        elif admitted.verdict == Verdict.QUEUED and job is not None:
            self._states[job.id] = job.state.value
            self._buffer.append(job.id)
            if len(self._buffer) >= self._shard_size:
                await self._ship()
        else:
            # Ended at admission (rejected), before this run, or a duplicate:
            # counted now. The jobs queued here are counted as the ledger ends them.
            self.summary.count(admitted.verdict.value)

    async def _ship(self) -> None:
        ids, self._buffer = self._buffer, []
        if ids:
            await asyncio.to_thread(self._send, ids)

    def _connect_broker(self) -> bool:
        """Connect to the broker now, not when the first shard is ready.

        Loading the transport and the handshake take ~0.25 s, which the first
        shard (and its workers) would otherwise wait out. A broker that is down is
        waited for with the same patience as a publish, a line per retry; a stop
        (Ctrl-C, SIGTERM) ends the wait, and False says so.

        Raises:
            ConfigError: the broker did not answer within the retries.
        """

        def retrying(exc: Exception, interval: float) -> None:
            log.warning("broker unreachable (%s); retrying in %.1fs", first_line(exc), interval)

        def stop_waiting() -> None:  # called about once a second while waiting
            if self._stop.is_set():
                raise _Stopped

        with self._app.producer_or_acquire() as producer:  # the one sends will use
            connection = producer.connection
            try:
                connection.ensure_connection(
                    errback=retrying, callback=stop_waiting, **_PUBLISH_RETRY
                )
            except _Stopped:
                return False
            except KombuOperationalError as exc:
                raise ConfigError(
                    f"cannot reach the broker at {connection.as_uri()}: {first_line(exc)}"
                ) from exc
        return True

    def _send(self, ids: list[int]) -> None:
        self._app.send_task(
            SHARD_TASK,
            kwargs={
                "pipeline": self.pipeline.name,
                "batch": self.summary.batch,
                "ids": ids,
                "options": self.options.model_dump(mode="json"),
                "db": self._db_url,
            },
            queue=QUEUE,
            retry=True,  # a broker that is restarting gets the shard once it is back
            retry_policy=_PUBLISH_RETRY,
        )
        self.shards_sent += 1

    # -- following the ledger -----------------------------------------------------

    async def _run(self, batch: str, feed: Callable[[], Any]) -> RunSummary:
        self.summary = RunSummary(batch=batch)
        self._states: dict[int, str] = {}  # each queued job's latest state
        self._start_executors()
        try:
            connected = await asyncio.to_thread(self._connect_broker)
            self._seen_seq, _ = await self._db_call(self.ledger.store.audit_head)
            attempts_before = await self._db_call(self._retries, batch)
            if not self._stop.is_set():
                await feed()
                await self._ship()
            self._fed = True
            await self._follow(batch)
            self.summary.retried = await self._db_call(self._retries, batch) - attempts_before
        finally:
            self._stop_executors()
        # Stopped while waiting for the broker: nothing was admitted, but the run
        # did not do what it was asked, so it ends as interrupted (exit 130).
        self.summary.interrupted = self._stop.is_set() and (
            self.summary.pending > 0 or not connected
        )
        self.summary.elapsed_s = time.monotonic() - self.summary.started
        return self.summary

    async def _follow(self, batch: str) -> None:
        counted = {name: getattr(self.summary, name) for name in _ENDED}
        tally = Counter(self._states.values())
        last_change = time.monotonic()
        while not self._stop.is_set():
            changes = await self._db_call(
                self.ledger.store.state_changes, self._seen_seq, _CHANGES_PER_READ
            )
            moved = False
            for seq, job_id, state in changes:
                self._seen_seq = seq
                previous = self._states.get(job_id)
                if previous is not None and previous != state:
                    tally[previous] -= 1
                    tally[state] += 1
                    self._states[job_id] = state
                    moved = True
            for state in _ENDED:
                setattr(self.summary, state, counted[state] + tally[state])
            self.in_flight = tally[JobState.RUNNING.value]
            if not any(tally[s.value] for s in JobState if s not in TERMINAL):
                return
            if len(changes) == _CHANGES_PER_READ:
                continue  # more are waiting: read on before sleeping
            if moved:
                last_change = time.monotonic()
            elif time.monotonic() - last_change > self._stall_s:
                await self._resend_ready(batch)
                last_change = time.monotonic()
            # Poll often while a run is young (small batches end within seconds),
            # less often as it ages: each poll takes CPU the workers could use.
            age = time.monotonic() - self.summary.started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), min(self._poll_s, 0.1 + age / 50))

    def _retries(self, batch: str) -> int:
        """Attempts beyond the first, over the batch's jobs (what a local run counts)."""
        return sum(max(0, job.attempts - 1) for job in self.ledger.store.iter_jobs(batch=batch))

    async def _resend_ready(self, batch: str) -> None:
        now = self.ledger.clock()

        def ready() -> list[int]:
            rows = self.ledger.store.iter_jobs(batch=batch)
            return [row.id for row in rows if row.ready(now)]

        ids = await self._db_call(ready)
        if ids:
            log.warning(
                "no job ended for %.0fs; sending %d ready jobs again", self._stall_s, len(ids)
            )
        for start in range(0, len(ids), self._shard_size):
            self._buffer = ids[start : start + self._shard_size]
            await self._ship()

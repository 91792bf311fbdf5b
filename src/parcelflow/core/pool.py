"""Dispatchers for CPU-bound stages: a process pool, or one thread of this process.

Sending one small job at a time to a process pool costs more in pickling and
pipe round trips than the job itself; calls waiting at the same moment are sent
together as one chunk (micro-batching), so the overhead is shared while a lone
call still goes at once.

A child that dies (segfault, OOM kill, ``os._exit``) breaks the whole pool and
every chunk in flight. The pool is rebuilt and every call of the broken chunks
becomes a suspect. Suspects run one at a time with nothing else in the pool, so
a crash is charged to exactly the call that caused it: that call raises
:class:`~parcelflow.errors.WorkerCrashed` (the ledger counts it and ends the job
as poison after a few), while its innocent neighbours simply run again.

Without a pool (a Celery prefork child, ``--processes 0``), :class:`ThreadDispatcher`
runs the calls on one thread and hands results back to the event loop as they
come, several per wake-up when they come faster than the loop takes them.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from queue import SimpleQueue
from typing import Any

from parcelflow.core.pipeline import StageInput
from parcelflow.errors import WorkerCrashed, as_parcelflow_error

__all__ = ["ProcessDispatcher", "ThreadDispatcher", "run_stages"]

log = logging.getLogger(__name__)

StageFn = Callable[[StageInput], Any]

_TARGET_CHUNK_S = 0.02  # work per round trip: pickling costs stay a few percent of it
_FIRST_CHUNK = 4  # before any call has been timed


def _child_init() -> None:
    # The parent handles Ctrl-C and decides what happens to in-flight work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One thread per OCR process: Tesseract's OpenMP threads only contend here.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def run_stages(fns: Sequence[StageFn], item: StageInput) -> Any:
    """Run consecutive stages on ``item``, each fed the previous one's output."""
    data = item.data
    for fn in fns:
        data = fn(replace(item, data=data))
    return data


def _run_chunk(
    calls: list[tuple[Sequence[StageFn], StageInput]],
) -> tuple[float, list[tuple[bool, Any]]]:
    started = time.perf_counter()
    results: list[tuple[bool, Any]] = []
    for fns, item in calls:
        try:
            results.append((True, run_stages(fns, item)))
        except Exception as exc:  # every failure goes back to the parent, translated
            results.append((False, as_parcelflow_error(exc)))
    return time.perf_counter() - started, results


@dataclass(eq=False)
class _Call:
    fns: Sequence[StageFn]
    item: StageInput
    future: asyncio.Future[Any]


class ProcessDispatcher:
    """Runs picklable stage functions in ``processes`` child processes.

    Args:
        processes: pool size (one per core is right for CPU-bound work).
        max_chunk: most calls sent in one round trip.
        preload: modules to import once in the fork server, so that every worker
            starts with them (the stages' modules and what they import lazily). The
            fork server is shared by all pools of a process: the first pool's list holds.
    """

    def __init__(self, processes: int, *, max_chunk: int = 64, preload: Sequence[str] = ()) -> None:
        self._processes = max(1, processes)
        self._max_chunk = max_chunk
        self._context = multiprocessing.get_context("forkserver")
        # The forkserver preloads ``__main__`` by default, which re-runs a user's
        # script that lacks an ``if __name__ == "__main__":`` guard inside the
        # server (a nested run, or a hang). Stages live in importable modules, so
        # preload parcelflow's own pool module instead.
        self._context.set_forkserver_preload(["parcelflow.core.pool", *preload])
        self._pool = self._new_pool()
        self._generation = 0
        self._pending: list[_Call] = []
        self._suspects: list[_Call] = []
        self._in_flight = 0
        self._isolating = False  # a suspect is running alone
        self._per_call_s: float | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            self._processes, mp_context=self._context, initializer=_child_init
        )
        # Start every worker now rather than one per early submit, so none of them
        # joins late; a non-fork pool spawns a worker per submit while none is idle.
        with _cli_main_left_alone():
            for _ in range(self._processes):
                pool.submit(int)
        return pool

    async def call(self, fns: Sequence[StageFn], item: StageInput) -> Any:
        """Run ``fns`` on ``item`` in a child process and return the last output."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Call(fns, item, future))
        self._send()
        return await future

    def _send(self) -> None:
        if self._suspects:
            # Suspects run strictly alone: wait for the pool to empty, then one.
            if self._in_flight == 0:
                self._isolating = True
                self._submit([self._suspects.pop(0)])
            return
        # Two chunks per process keep every child busy while results travel back.
        while self._in_flight < 2 * self._processes and self._pending:
            free = 2 * self._processes - self._in_flight
            size = min(self._chunk_size(), -(-len(self._pending) // free))
            chunk, self._pending = self._pending[:size], self._pending[size:]
            self._submit(chunk)

    def _chunk_size(self) -> int:
        """Calls per chunk: about ``_TARGET_CHUNK_S`` of work, from the measured call time.

        Tiny calls (hashing a small file) share a round trip; heavy ones (a
        100-page lease) go one by one, so neither child waits on the other's
        long chunk at the end of a batch.
        """
        if self._per_call_s is None:
            return _FIRST_CHUNK
        return max(1, min(self._max_chunk, int(_TARGET_CHUNK_S / max(self._per_call_s, 1e-6))))

    def _measured(self, seconds: float, calls: int) -> None:
        per_call = seconds / max(1, calls)
        previous = self._per_call_s
        self._per_call_s = per_call if previous is None else 0.8 * previous + 0.2 * per_call

    def _submit(self, chunk: list[_Call]) -> None:
        live = [c for c in chunk if not c.future.done()]
        if not live:
            self._isolating = False
            self._send()
            return
        generation = self._generation
        try:
            sent = self._pool.submit(_run_chunk, [(c.fns, c.item) for c in live])
        except BrokenProcessPool as exc:
            # The pool broke before these calls ran: they are suspects, not culprits.
            self._isolating = False
            self._broken(live, generation, exc)
            self._send()
            return
        self._in_flight += 1
        sent.add_done_callback(
            lambda f: (
                live[0].future.get_loop().call_soon_threadsafe(self._done, live, generation, f)
            )
        )

    def _done(self, chunk: list[_Call], generation: int, sent: Future[Any]) -> None:
        self._in_flight -= 1
        alone, self._isolating = self._isolating, False
        try:
            seconds, results = sent.result()
            self._measured(seconds, len(chunk))
        except BrokenProcessPool as exc:
            self._broken(chunk, generation, exc, alone=alone)
        except Exception as exc:  # e.g. an unpicklable input: fail these calls, not the run
            for call in chunk:
                _settle(call.future, error=as_parcelflow_error(exc))
        else:
            for call, (ok, value) in zip(chunk, results, strict=True):
                _settle(call.future, value=value) if ok else _settle(call.future, error=value)
        self._send()

    def _broken(
        self, chunk: list[_Call], generation: int, exc: BaseException, *, alone: bool = False
    ) -> None:
        if generation == self._generation:
            log.warning("a worker process died (%s); starting a new pool", exc)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self._generation += 1
        if alone:
            # It ran with nothing else in the pool: this call killed the worker.
            _settle(chunk[0].future, error=WorkerCrashed("the worker process died running it"))
        else:
            self._suspects.extend(chunk)

    def close(self, *, kill: bool = False) -> None:
        """Shut the pool down; ``kill`` ends children at once (interrupted run)."""
        if kill:
            processes = getattr(self._pool, "_processes", None) or {}
            for process in list(processes.values()):
                process.kill()
        self._pool.shutdown(wait=not kill, cancel_futures=True)


class ThreadDispatcher:
    """Runs stage functions one at a time on a thread of this process.

    Native libraries such as PDFium are not thread-safe, and CPU-bound Python
    gains nothing from more threads, so one thread takes the calls in turn while
    the event loop stays free. Each result is handed back as soon as its call
    ends (never held while a slow call after it runs), but the loop
    is woken only when no delivery is already pending: results that come faster
    than the loop takes them share one wake-up, and jobs that end together can
    commit together.
    """

    def __init__(self) -> None:
        self._inbox: SimpleQueue[_Call | None] = SimpleQueue()
        self._outbox: deque[tuple[_Call, bool, Any]] = deque()
        self._wake_pending = False
        self._thread: threading.Thread | None = None
        self._queued: set[_Call] = set()

    async def call(self, fns: Sequence[StageFn], item: StageInput) -> Any:
        """Run ``fns`` on ``item`` on the stage thread and return the last output."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, args=(loop,), name="parcelflow-stages", daemon=False
            )
            self._thread.start()
        call = _Call(fns, item, loop.create_future())
        self._queued.add(call)
        self._inbox.put(call)
        return await call.future

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        while (call := self._inbox.get()) is not None:
            if call.future.cancelled():
                continue
            try:
                outcome: tuple[_Call, bool, Any] = (call, True, run_stages(call.fns, call.item))
            except Exception as exc:  # every failure goes back to the loop, translated
                outcome = (call, False, as_parcelflow_error(exc))
            self._outbox.append(outcome)
            if not self._wake_pending:
                self._wake_pending = True
                with suppress(RuntimeError):  # the run that owns the loop has ended
                    loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        # Cleared before draining: a result appended after this line schedules
        # another delivery, so none is left behind.
        self._wake_pending = False
        while self._outbox:
            call, ok, value = self._outbox.popleft()
            self._queued.discard(call)
            _settle(call.future, value=value) if ok else _settle(call.future, error=value)

    def close(self) -> None:
        """Cancel the calls not started; one already running finishes on the thread."""
        for call in self._queued:
            call.future.cancel()
        self._queued.clear()
        if self._thread is not None:
            self._inbox.put(None)


@contextmanager
def _cli_main_left_alone() -> Iterator[None]:
    """Start child processes without re-running parcelflow's own CLI as their ``__main__``.

    A forkserver child runs the parent's ``__main__`` again before its first task, so
    functions defined there can be unpickled. For the ``parcelflow`` command that means
    importing the whole CLI (Typer, Rich, SQLAlchemy, the stores: ~0.2 s and ~30 MB per
    child) for nothing: every stage lives in an importable module. ``multiprocessing``
    leaves ``__main__`` alone when it has neither a spec nor a file, so both are hidden
    while the children start. Any other ``__main__`` (a user's script defining a stage)
    is re-run as usual.
    """
    main = sys.modules.get("__main__")
    if main is None or not _is_parcelflow_cli(main):
        yield
        return
    names: dict[str, Any] = vars(main)
    hidden: dict[str, Any] = {
        name: names.pop(name) for name in ("__spec__", "__file__") if name in names
    }
    main.__spec__ = None
    try:
        yield
    finally:
        names.update(hidden)


def _is_parcelflow_cli(main: Any) -> bool:
    """``__main__`` is ``python -m parcelflow.interfaces.cli`` or the ``parcelflow`` script."""
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "parcelflow.interfaces.cli")
    entry = getattr(main, "main", None)
    return getattr(entry, "__module__", None) == "parcelflow.interfaces.cli"


def _settle(
    future: asyncio.Future[Any], *, value: Any = None, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)

"""A process pool for CPU-bound stages, with many calls per round trip.

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
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from parcelflow.core.pipeline import StageInput
from parcelflow.errors import WorkerCrashed, as_parcelflow_error

__all__ = ["ProcessDispatcher", "run_stages"]

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


@dataclass
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

"""``fault``: a fault-injection pipeline, a deliberate test fake.

It exists so that tests (and people trying parcelflow out) can make a job fail
in each way the engine must survive, through the real CLI, without mocks.
Load it with ``PARCELFLOW_PLUGINS=parcelflow.testing.faults``.

Its source is files, keyed by content like every file pipeline; its one
``process`` stage reads the file and obeys the file's first line:

* ``ok``: commit a record to collection ``fault``;
* ``transient N``: raise :class:`TransientError` on attempts ``<= N``, then succeed;
* ``permanent``: raise :class:`PermanentError` (code ``bad_input``);
* ``quarantine``: raise :class:`QuarantineError`;
* ``crash``: ``os._exit(13)``, killing the pool worker that runs it;
* ``slow S``: keep the worker busy for ``S`` seconds, then commit.

``slow`` is a deliberate stand-in for long work, for interrupt and grace-period
tests; nothing else in parcelflow waits on purpose. Lines after the first are
ignored (tests use them to give files distinct contents, hence distinct keys).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from parcelflow.core.pipeline import Pipeline, Record, Result, Stage, StageInput, register
from parcelflow.errors import PermanentError, QuarantineError, TransientError, WorkerCrashed
from parcelflow.sources.files import IDENTIFY_FILE, file_submissions, read_file

__all__ = ["COLLECTION", "FAULT", "act"]

COLLECTION = "fault"
_CRASH_EXIT = 13
_SLOW_TICK_S = 0.05  # sleep in short ticks so a killed worker dies promptly


def _first_line(data: bytes) -> tuple[str, list[str]]:
    text = data.decode("utf-8", "replace")
    words = (text.splitlines() or [""])[0].split()
    return (words[0] if words else ""), words[1:]


def _number(args: list[str], verb: str) -> float:
    try:
        return float(args[0])
    except (IndexError, ValueError):
        raise PermanentError(f"'{verb}' needs a number", code="bad_fault") from None


def _transient(item: StageInput, args: list[str]) -> None:
    failures = _number(args, "transient")
    if item.attempt <= failures:
        raise TransientError(f"transient fault on attempt {item.attempt} of {failures:g}")


def _permanent(_item: StageInput, _args: list[str]) -> None:
    raise PermanentError("permanent fault", code="bad_input")


def _quarantine(_item: StageInput, _args: list[str]) -> None:
    raise QuarantineError("quarantine fault")


def _in_worker_process() -> bool:
    """Whether this is a pool or Celery child (killing it does not kill the engine)."""
    if multiprocessing.parent_process() is not None:
        return True
    # Celery's prefork children are billiard processes, invisible to multiprocessing.
    billiard = sys.modules.get("billiard.process")
    return billiard is not None and billiard.current_process()._parent_pid is not None


def _crash(_item: StageInput, _args: list[str]) -> None:
    if not _in_worker_process():
        # Run in-line (no process pool): exiting would kill the engine itself,
        # not a worker. Report what a dead worker would have caused instead.
        raise WorkerCrashed("crash fault (run in-line, so reported instead of exiting)")
    os._exit(_CRASH_EXIT)


def _slow(_item: StageInput, args: list[str]) -> None:
    deadline = time.monotonic() + _number(args, "slow")
    while time.monotonic() < deadline:
        time.sleep(_SLOW_TICK_S)


def _ok(_item: StageInput, _args: list[str]) -> None:
    return None


_ACTIONS: dict[str, Callable[[StageInput, list[str]], None]] = {
    "ok": _ok,
    "transient": _transient,
    "permanent": _permanent,
    "quarantine": _quarantine,
    "crash": _crash,
    "slow": _slow,
}


def act(item: StageInput) -> Result:
    """Do what the file's first line says; commit a ``fault`` record if it survives."""
    path = str(item.payload["path"])
    verb, args = _first_line(read_file(path))
    action = _ACTIONS.get(verb)
    if action is None:
        raise PermanentError(f"unknown fault {verb!r}", code="bad_fault")
    action(item, args)
    fields: dict[str, Any] = {
        "path": path,
        "fault": " ".join([verb, *args]),
        "attempt": item.attempt,
    }
    return Result(records=(Record(COLLECTION, item.key, fields),))


FAULT = register(
    Pipeline(
        name="fault",
        collection=COLLECTION,
        submissions=file_submissions,
        identify=IDENTIFY_FILE,
        stages=(Stage("act", act, where="process"),),
        summary="test fake: each file's first line says how its job fails (ok, transient N, "
        "permanent, quarantine, crash, slow S)",
    )
)

"""Pipelines: a source of submissions, a keying step and a list of stages.

A pipeline knows its stages; a stage knows nothing of the engine that runs it.
Stages are plain functions of a :class:`StageInput`; where a stage runs (on the
event loop, in a thread, in the process pool) is a property of the stage, chosen
by what it spends its time on:

* ``inline``: cheap Python, run on the event loop.
* ``thread``: releases the GIL (hashing large buffers, GEOS, file I/O).
* ``process``: CPU-bound Python (PDF parsing, regex extraction, OCR driving).
  The function and its input must be picklable (module-level functions only).
* ``async``: a coroutine function (network I/O behind a rate limiter).

The last stage returns a :class:`Result` (or a bare :class:`Record`); the engine
commits its records together with the job's terminal transition.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict

from parcelflow.errors import ConfigError

if TYPE_CHECKING:
    from parcelflow.stores.base import RecordRow, Store, Tx

__all__ = [
    "Exporter",
    "NoOptions",
    "Pipeline",
    "Placement",
    "Record",
    "RecordWriter",
    "Result",
    "RunContext",
    "Stage",
    "StageInput",
    "Submission",
    "exporter_for",
    "get_pipeline",
    "pipeline_names",
    "register",
    "register_exporter",
    "register_writer",
    "writer_for",
]

Placement = Literal["inline", "thread", "process", "async"]


class NoOptions(BaseModel):
    """Options model of a pipeline that takes none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class Submission:
    """One unit of work as a source names it, before it has a key.

    Attributes:
        source: what the user recognises (a path, a URL, a page of a layer).
        payload: JSON-able data the stages need; stored in the ledger so that a
            job can be resumed or replayed without its source.
        key: the idempotency key when the source already knows it (a feed
            page's request digest); ``None`` to have the pipeline's ``identify``
            compute it (a file's content hash).
        error: set by a source that could not even describe the item (a
            broken symlink, an undecodable name): the job is rejected at once.
    """

    source: str
    payload: Mapping[str, Any]
    key: str | None = None
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a source and an end-of-run hook may know about the run.

    Attributes:
        store: the ledger's store (a zoning source reads its last sync from it).
        batch: the batch being run.
    """

    store: Store
    batch: str


@dataclass(frozen=True, slots=True)
class StageInput:
    """What a stage receives: the job's identity, its payload and the previous output."""

    job_id: int
    key: str
    source: str
    payload: Mapping[str, Any]
    data: Any
    options: BaseModel
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Record:
    """A domain record to upsert, keyed within its collection.

    ``fields`` must be JSON-able; its canonical SHA-256 goes into the audit log.
    ``blob`` is for a collection with its own writer (see :func:`register_writer`):
    bulk data handed to that writer as is (zoning's WKB geometries), neither stored
    in the generic table nor hashed; put a digest of it in ``fields``.
    """

    collection: str
    key: str
    fields: Mapping[str, Any]
    blob: Any = None


@dataclass(frozen=True, slots=True)
class Result:
    """What a job produced: records to commit, and notes to keep on the job."""

    records: tuple[Record, ...] = ()
    notes: Mapping[str, Any] = field(default_factory=dict)


StageFn = Callable[[StageInput], Any] | Callable[[StageInput], Awaitable[Any]]
SubmissionsFn = Callable[[Sequence[str], BaseModel, RunContext], Iterator[Submission]]
FinishFn = Callable[[RunContext, BaseModel], list[str]]
RecordWriter = Callable[["Tx", Sequence["RecordRow"]], None]


@dataclass(frozen=True, slots=True)
class Stage:
    """A named step of a pipeline and where it runs.

    Attributes:
        name: shown in the job's state trail and errors.
        fn: the step (picklable, i.e. a module-level function, when ``where`` is
            ``process``).
        where: ``inline`` (on the event loop), ``thread``, ``process`` or ``async``.
        preload: modules ``fn`` imports when it first runs (kept lazy so the CLI and
            other pipelines do not pay for them). A process pool imports them once,
            before it starts its workers, instead of in every worker on its first call.
    """

    name: str
    fn: StageFn
    where: Placement = "inline"
    preload: tuple[str, ...] = ()

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules it needs when it runs: its function's, and ``preload``."""
        return (self.fn.__module__, *self.preload)


@dataclass(frozen=True)
class Pipeline:
    """A named list of stages over a source.

    Attributes:
        name: what the user types after ``parcelflow run``.
        collection: the record collection it commits to (``parcelflow export NAME``).
        submissions: turns the user's source arguments into submissions, lazily.
        identify: computes a submission's idempotency key (content SHA-256 for files).
        stages: run in order for each claimed job.
        options: the pipeline's own options (``--ocr``, ``--key-field``), as a
            frozen pydantic model; the CLI builds it from ``--kebab-case`` flags.
        summary: one line about the pipeline for ``--help``.
        finish: called once a run has ended every job (not after an
            interruption); returns report lines shown with the summary (a
            zoning sync checks its feature count against the server's here).
    """

    name: str
    collection: str
    submissions: SubmissionsFn
    identify: Stage
    stages: Sequence[Stage]
    options: type[BaseModel] = NoOptions
    summary: str = ""
    finish: FinishFn | None = None

    def stage_modules(self, *, where: Placement | None = None) -> list[str]:
        """Modules its stages (``identify`` included) need when they run, lazy imports too.

        Args:
            where: only the stages that run there (``process``: what a process pool
                should import before it starts its workers); all stages when ``None``.
        """
        stages = [s for s in (self.identify, *self.stages) if where in (None, s.where)]
        return sorted({module for stage in stages for module in stage.modules})


_REGISTRY: dict[str, Pipeline] = {}
_WRITERS: dict[str, RecordWriter] = {}


def register_writer(collection: str, writer: RecordWriter) -> None:
    """Have ``writer`` store the records of ``collection`` instead of the generic table.

    It runs inside the transaction that commits the jobs' terminal transitions,
    so its rows land atomically with them (zoning features go to their own
    tables this way).
    """
    _WRITERS[collection] = writer


def writer_for(collection: str) -> RecordWriter | None:
    """The writer registered for ``collection``, if any."""
    return _WRITERS.get(collection)


Exporter = Callable[["Store", str, TextIO], int]
_EXPORTERS: dict[str, tuple[Exporter, tuple[str, ...]]] = {}


def register_exporter(collection: str, exporter: Exporter, formats: Sequence[str]) -> None:
    """Have ``parcelflow export COLLECTION`` use ``exporter(store, format, out) -> count``.

    For collections kept in their own tables (zoning), and formats beyond jsonl/csv.
    """
    _EXPORTERS[collection] = (exporter, tuple(formats))


def exporter_for(collection: str) -> tuple[Exporter, tuple[str, ...]] | None:
    """The exporter registered for ``collection`` and the formats it writes, if any."""
    return _EXPORTERS.get(collection)


# Built-in pipelines, imported on first use so that ``import parcelflow`` stays light.
_BUILTIN = {
    "inventory": "parcelflow.pipelines.inventory",
    "lease": "parcelflow.pipelines.leases.pipeline",
    "zoning": "parcelflow.pipelines.zoning.pipeline",
}


def register(pipeline: Pipeline) -> Pipeline:
    """Make ``pipeline`` available by name (``parcelflow run NAME``)."""
    _REGISTRY[pipeline.name] = pipeline
    return pipeline


def _load_builtins() -> None:
    for name, module in _BUILTIN.items():
        if name not in _REGISTRY:
            import_module(module)
    _load_plugins()


def _load_plugins() -> None:
    """Import the modules named in ``PARCELFLOW_PLUGINS`` (comma-separated); they register."""
    for module in filter(None, os.environ.get("PARCELFLOW_PLUGINS", "").split(",")):
        try:
            import_module(module.strip())
        except ImportError as exc:
            raise ConfigError(
                f"PARCELFLOW_PLUGINS names {module!r}, which does not import: {exc}"
            ) from exc


def pipeline_names() -> list[str]:
    """Names of every known pipeline, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called ``name``.

    Raises:
        ConfigError: no pipeline has that name.
    """
    if name not in _REGISTRY and name in _BUILTIN:
        import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(pipeline_names())
        raise ConfigError(f"unknown pipeline {name!r}; known: {known}") from None

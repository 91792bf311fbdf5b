"""``zoning``: keep zoning layers in sync with county GIS servers, and say what changed.

``parcelflow run zoning SOURCE... [--key-field F] [--jurisdiction J] ...`` plans
each source once (an ArcGIS layer's metadata, count and pages, or a GeoJSON
file's slices), opens a sync of it (or resumes the one a killed run left open)
and submits one job per page, keyed by the page's request digest salted with
the sync id. Each page job runs three stages:

1. ``fetch`` (``async``, on the engine's event loop): the page's raw answers,
   through one polite :class:`~parcelflow.sources.http.HttpClient` per event
   loop (per-host rate limit, in-flight cap, backoff, circuit breaker);
2. ``clean`` (``process``): parse, validate, reproject, repair, hash and H3-index
   the features (:func:`~parcelflow.pipelines.zoning.records.process_page_body`);
3. ``record`` (``process``, fused with ``clean`` into one trip to the pool): the
   page's record: counts and a digest of its content as ``fields`` (audited),
   the processed page as ``blob``.

The ``zoning`` writer stores each page's features
(:func:`~parcelflow.pipelines.zoning.store.commit_page`) inside the transaction
that commits the job's terminal transition, so a page's features and its job's
``committed`` land together or not at all. Once every job of a run has ended,
:func:`finish` checks each sync's count against the server's and closes it
(removals are applied only when nothing is missing); its lines are shown with the
run summary.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import sqlalchemy as sa
from pydantic import BaseModel

from parcelflow.core.job import JobState
from parcelflow.core.pipeline import (
    Pipeline,
    Record,
    Result,
    RunContext,
    Stage,
    StageInput,
    Submission,
    register,
    register_exporter,
    register_writer,
)
from parcelflow.errors import ConfigError, PermanentError
from parcelflow.pipelines.zoning import store as zstore
from parcelflow.pipelines.zoning.export import ExportFormat, export_features
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.records import PageBody, ProcessedPage, process_page_body
from parcelflow.pipelines.zoning.report import change_report
from parcelflow.pipelines.zoning.source import (
    SourcePlan,
    fetch_page_body,
    page_from_payload,
    page_submissions,
    plan_source_blocking,
)
from parcelflow.sources.http import HttpClient, HttpSettings
from parcelflow.stores.base import RecordRow, Store, Tx
from parcelflow.stores.sql import SqlStore, SqlTx

__all__ = [
    "COLLECTION",
    "EXPORT_FORMATS",
    "ZONING",
    "content_digest",
    "export",
    "finish",
    "sql_store",
    "submissions",
    "write_pages",
]

log = logging.getLogger(__name__)

COLLECTION = "zoning"
_EXPORT_FORMATS: dict[str, ExportFormat] = {"geojson": "geojson", "jsonl": "jsonl", "csv": "csv"}
EXPORT_FORMATS = tuple(_EXPORT_FORMATS)
_SHOWN_REJECTIONS = 20  # rejected features listed in the run report; the rest are counted
_NEEDS_SQL = "zoning needs a SQL database: use --db sqlite:///FILE or --db postgresql://..."


def _zoning_options(options: BaseModel | None) -> ZoningOptions:
    # A replay runs with the pipeline's default options; pages carry what matters.
    return options if isinstance(options, ZoningOptions) else ZoningOptions()


def sql_store(store: Store) -> SqlStore:
    """``store`` as a SQL store: zoning keeps its features in tables of its own.

    Raises:
        ConfigError: the store is the in-memory one.
    """
    if not isinstance(store, SqlStore):
        raise ConfigError(_NEEDS_SQL)
    return store


# -- planning: one sync per source, one job per page ---------------------------------


@dataclass(frozen=True, slots=True)
class _OpenSync:
    """A sync this run writes to, and the page keys its plan expects."""

    plan: SourcePlan
    sync_id: int
    resumed: bool
    page_keys: frozenset[str]


# Syncs opened by ``submissions`` in this process, by batch, for ``finish``: both
# run in the process that drives the run (the CLI, or the Celery coordinator).
_OPENED: dict[str, list[_OpenSync]] = {}


def _plan(source: str, options: ZoningOptions) -> SourcePlan:
    try:
        return plan_source_blocking(source, options)
    except PermanentError as exc:
        # Nothing has been submitted yet: a source that cannot be planned is a
        # usage problem to fix (the URL, the host), told in one line.
        raise ConfigError(exc.message, code=exc.code) from exc


def _begin(store: SqlStore, plan: SourcePlan) -> _OpenSync:
    with store.transaction() as tx:
        zstore.create_tables(tx.conn)
        sync_id, resumed = zstore.begin_sync(
            tx.conn,
            jurisdiction=plan.jurisdiction,
            layer=plan.layer,
            source=plan.source,
            key_field=plan.key_field,
            object_id_field=plan.object_id_field,
            expected_count=plan.expected_count,
        )
    keys = frozenset(page.key(sync_id) for page in plan.pages)
    return _OpenSync(plan, sync_id, resumed, keys)


def _page_jobs(opened: Iterable[_OpenSync], h3_res: int) -> Iterator[Submission]:
    for sync in opened:
        for item in page_submissions(sync.plan, sync.sync_id):
            # The H3 resolution travels with the page: a replay runs without the
            # run's options and must index the page the same way.
            payload = {**item.payload, "h3_res": h3_res}
            yield Submission(item.source, payload, item.key)


def submissions(
    sources: Sequence[str], options: BaseModel, context: RunContext
) -> Iterator[Submission]:
    """Plan every source, open (or resume) a sync of each, and submit their pages.

    Planning happens now, before any job is admitted, so that a source that
    cannot be synced stops the run with one line and changes nothing.

    Raises:
        ConfigError: the database is not SQL, or a source cannot be planned
            (unreachable host, a URL that is not a layer, a missing file, an
            unknown ``--key-field``).
    """
    zoning = _zoning_options(options)
    store = sql_store(context.store)
    plans = [_plan(source, zoning) for source in dict.fromkeys(sources)]
    opened = [_begin(store, plan) for plan in plans]
    for sync in opened:
        if sync.resumed:
            log.warning("resuming zoning sync %d of %s", sync.sync_id, sync.plan.layer)
    _OPENED[context.batch] = opened
    return _page_jobs(opened, zoning.h3_res)


def identify(item: StageInput) -> str:
    """A page's key: its request digest salted with its sync id (sources set it already)."""
    sync_id, page = page_from_payload(item.payload)
    return page.key(sync_id)


# -- stages ----------------------------------------------------------------------------


class _LoopClients:
    """One :class:`HttpClient` per running event loop and politeness setting.

    A client's connections and rate-limit state belong to the loop that made
    them, and the engine runs one loop per run (a Celery child, one per shard).
    Each client is closed when its loop ends: ``asyncio.run`` cancels the tasks
    still pending at the end, including the one that holds the client open.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[asyncio.AbstractEventLoop, HttpSettings], HttpClient] = {}
        self._keepers: set[asyncio.Task[None]] = set()

    def get(self, settings: HttpSettings) -> HttpClient:
        """The running loop's client for ``settings``, made on first use."""
        loop = asyncio.get_running_loop()
        key = (loop, settings)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = HttpClient(settings)
            keeper = loop.create_task(self._close_at_loop_end(key, client))
            self._keepers.add(keeper)  # the loop holds tasks weakly
            keeper.add_done_callback(self._keepers.discard)
        return client

    async def _close_at_loop_end(
        self, key: tuple[asyncio.AbstractEventLoop, HttpSettings], client: HttpClient
    ) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # resolved by nobody
        finally:
            self._clients.pop(key, None)
            await client.aclose()


_CLIENTS = _LoopClients()


async def fetch(item: StageInput) -> PageBody:
    """Fetch one page's raw answers (the ``async`` stage)."""
    _sync_id, page = page_from_payload(item.payload)
    client = _CLIENTS.get(_zoning_options(item.options).http_settings())
    return await fetch_page_body(client, page)


def clean(item: StageInput) -> ProcessedPage:
    """Parse and clean a fetched page (CPU-bound: the process pool)."""
    body = item.data
    if not isinstance(body, PageBody):
        message = f"clean got {type(body).__name__}, not a page body"
        raise PermanentError(message, code="bad_payload")
    return process_page_body(body, int(item.payload.get("h3_res", 9)))


def content_digest(page: ProcessedPage) -> str:
    """SHA-256 of a page's content: each feature's key, hashes and cell, and each rejection.

    Independent of the order the server sent features in, so the same content
    gives the same audited digest in every sync.
    """
    digest = hashlib.sha256()
    for row in sorted(page.rows, key=lambda r: r.key):
        digest.update(f"{row.key}\t{row.attrs_hash}\t{row.geom_hash}\t{row.h3}\n".encode())
    for refused in sorted(page.rejected, key=lambda r: (r.index, r.key or "")):
        digest.update(f"!{refused.key}\t{refused.code}\n".encode())
    return digest.hexdigest()


def _page_counts(page: ProcessedPage) -> dict[str, Any]:
    return {
        "received": page.received,
        "features": len(page.rows),
        "rejected": len(page.rejected),
        "duplicates": page.duplicates,
        "conflicts": page.conflicts,
        "exceeded": page.exceeded,
    }


def record(item: StageInput) -> Result:
    """The page's record: audited counts and content digest; the features as its blob."""
    page = item.data
    if not isinstance(page, ProcessedPage):
        message = f"record got {type(page).__name__}, not a page"
        raise PermanentError(message, code="bad_payload")
    sync_id, planned = page_from_payload(item.payload)
    counts = _page_counts(page)
    fields = {"sync_id": sync_id, "page": planned.index, **counts}
    fields["content_sha256"] = content_digest(page)
    shown = [f"{r.key}: {r.code}: {r.message}" for r in page.rejected[:_SHOWN_REJECTIONS]]
    notes = counts | ({"rejections": shown} if shown else {})
    return Result(records=(Record(COLLECTION, item.key, fields, blob=page),), notes=notes)


# -- the writer: features committed with their jobs -----------------------------------------


def _connection(tx: Tx) -> sa.Connection:
    if not isinstance(tx, SqlTx):
        raise ConfigError(_NEEDS_SQL)
    return tx.conn


def _sync_is_open(conn: sa.Connection, sync_id: int) -> bool:
    status = conn.execute(
        sa.select(zstore.syncs.c.status).where(zstore.syncs.c.sync_id == sync_id)
    ).scalar()
    return status == "open"


def write_pages(tx: Tx, rows: Sequence[RecordRow]) -> None:
    """Store the features of committed pages, inside the jobs' commit transaction.

    A page whose sync is no longer open (a replay after its run finished the
    sync) is not written: its features would land in a closed snapshot. It is
    logged; run the sync again to pick its features up.
    """
    conn = _connection(tx)
    for row in rows:
        page = row.blob
        if not isinstance(page, ProcessedPage):
            raise TypeError(f"zoning record {row.key} carries no processed page")
        sync_id = int(row.fields["sync_id"])
        if not _sync_is_open(conn, sync_id):
            log.warning(
                "page %s of zoning sync %d not written: the sync is finished; sync again",
                row.fields.get("page"),
                sync_id,
            )
            continue
        zstore.commit_page(conn, sync_id, row.key, page)


# -- the exporter: parcelflow export zoning --format geojson|jsonl|csv ----------------------------


def _has_tables(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(zstore.features.name)


def export(store: Store, fmt: str, out: TextIO) -> int:
    """Write the current features of every layer to ``out``; return how many.

    Raises:
        ConfigError: the store is not SQL, or ``fmt`` is unknown.
    """
    sql = sql_store(store)
    chosen = _EXPORT_FORMATS.get(fmt)
    if chosen is None:
        raise ConfigError(f"--format must be {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    with sql.connect() as conn:
        missing = not _has_tables(conn)
    if missing:  # no sync yet: export an empty collection, well-formed
        with sql.transaction() as tx:
            zstore.create_tables(tx.conn)
    with sql.connect() as conn:
        return export_features(conn, chosen, out)


# -- the end of a run: count check, close, summary -------------------------------------------------


def _where(sync: _OpenSync) -> str:
    return f"zoning {sync.plan.jurisdiction} · {sync.plan.layer}"


def _missing(store: SqlStore, sync: _OpenSync) -> frozenset[str]:
    with store.connect() as conn:
        return sync.page_keys - zstore.committed_pages(conn, sync.sync_id)


def _states(store: SqlStore, batch: str, keys: frozenset[str]) -> Counter[str]:
    """How the jobs of ``keys`` ended; a key without a job counts as ``queued``."""
    found = {job.key: job.state.value for job in store.iter_jobs(batch=batch) if job.key in keys}
    return Counter(found.get(key, JobState.QUEUED.value) for key in keys)


def _resumable(states: Mapping[str, int]) -> bool:
    """Whether missing pages may still commit (dead, or not ended): then the sync waits."""
    final = {JobState.REJECTED.value, JobState.QUARANTINED.value}
    return any(state not in final for state in states)


def _left_open(sync: _OpenSync, states: Mapping[str, int]) -> list[str]:
    missing = sum(states.values())
    detail = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
    return [
        f"{_where(sync)}: sync {sync.sync_id} left open: {missing} of {len(sync.page_keys)} "
        f"pages not committed ({detail}); replay them (parcelflow replay --state dead) and "
        "run this command again to finish the sync"
    ]


def _summary_lines(sync: _OpenSync, summary: zstore.SyncSummary) -> list[str]:
    counted = "?" if summary.expected is None else str(summary.expected)
    resumed = " (resumed)" if sync.resumed else ""
    lines = [
        f"{_where(sync)}: sync {sync.sync_id}{resumed} finished: "
        f"{summary.received} features received, "
        f"{counted} counted by the source; {summary.seen} kept, {summary.rejected} rejected, "
        f"{summary.removed} no longer served"
    ]
    problems = summary.problems()
    rejected = [p for p in problems if p.startswith("rejected ")]
    lines += [f"  {p}" for p in problems if not p.startswith("rejected ")]
    lines += [f"  {p}" for p in rejected[:_SHOWN_REJECTIONS]]
    if len(rejected) > _SHOWN_REJECTIONS:
        lines.append(f"  … and {len(rejected) - _SHOWN_REJECTIONS} more rejected features")
    return lines


def _change_line(store: SqlStore, sync: _OpenSync, options: ZoningOptions) -> list[str]:
    with store.connect() as conn:
        finished = zstore.list_syncs(conn, sync.plan.jurisdiction, sync.plan.layer)
        if len(finished) < 2 or finished[-1].sync_id != sync.sync_id:
            return []
        previous = finished[-2].sync_id
        [layer] = change_report(conn, options, since=previous)
    counts = ", ".join(f"{kind} {n}" for kind, n in layer.counts.items() if n) or "none"
    return [f"  changes since sync {previous}: {counts} (see: parcelflow zoning changes)"]


def _finish_one(store: SqlStore, batch: str, sync: _OpenSync, options: ZoningOptions) -> list[str]:
    missing = _missing(store, sync)
    if missing:
        states = _states(store, batch, missing)
        if _resumable(states):
            return _left_open(sync, states)
    with store.transaction() as tx:
        if not _sync_is_open(tx.conn, sync.sync_id):
            return [f"{_where(sync)}: sync {sync.sync_id} was finished by another run"]
        summary = zstore.finish_sync(tx.conn, sync.sync_id)
    lines = _summary_lines(sync, summary)
    if missing:
        lines.append(f"  {len(missing)} pages rejected: parcelflow jobs --batch {batch}")
    return lines + _change_line(store, sync, options)


def finish(context: RunContext, options: BaseModel) -> list[str]:
    """Check and close every sync this run wrote to; one report line or more per sync.

    A sync is finished when all its pages committed, or when the missing ones
    were rejected (permanent: the count mismatch is reported and removals are
    not applied). Pages that are dead (retries exhausted) leave the sync open,
    to be completed by a replay and the same command again.
    """
    opened = _OPENED.pop(context.batch, [])
    if not opened:
        return []
    store = sql_store(context.store)
    zoning = _zoning_options(options)
    return [line for sync in opened for line in _finish_one(store, context.batch, sync, zoning)]


ZONING = register(
    Pipeline(
        name="zoning",
        collection=COLLECTION,
        submissions=submissions,
        identify=Stage("identify", identify),
        stages=(
            Stage("fetch", fetch, where="async"),
            Stage("clean", clean, where="process"),
            Stage("record", record, where="process"),
        ),
        options=ZoningOptions,
        summary="sync ArcGIS layers or GeoJSON into versioned EPSG:4326 features with H3 cells",
        finish=finish,
    )
)
register_writer(COLLECTION, write_pages)
register_exporter(COLLECTION, export, formats=EXPORT_FORMATS)

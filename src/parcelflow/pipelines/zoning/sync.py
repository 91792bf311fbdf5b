"""A whole zoning sync without the ledger: plan, fetch, process, commit, finish.

This is the direct driver used by the tests, the benchmark and offline users; the
engine runs the same three stages as durable page jobs instead. Its concurrency
is bounded in one place (:func:`_run_pages`): ``max_in_flight`` page workers,
each fetching on the event loop, processing in a thread, and committing through
one writer at a time (each page in its own transaction, recorded in
``zoning_pages``, so a re-run of an unfinished sync skips committed pages).

A page that fails transiently leaves the sync open (run it again to resume);
one that fails permanently is reported, and the sync is finished with the count
mismatch that loss implies.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, field

import sqlalchemy as sa

from parcelflow.errors import ParcelflowError, TransientError
from parcelflow.pipelines.zoning import store
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.records import ProcessedPage, process_page_body
from parcelflow.pipelines.zoning.source import SourcePlan, ZoningPage, fetch_page_body, plan_source
from parcelflow.sources.http import HostStats, HttpClient, HttpSettings

__all__ = ["PageFailure", "SyncResult", "process_one_page", "run_sync"]


@dataclass(frozen=True, slots=True)
class PageFailure:
    """A page that could not be committed, and why."""

    page: int
    code: str
    message: str
    transient: bool


@dataclass(slots=True)
class SyncResult:
    """What a sync run did.

    Attributes:
        plan: the plan (layer, count, pages).
        sync_id: the sync written to.
        resumed: the run continued a sync a previous run left open.
        fetched_pages: pages fetched by this run (committed ones are skipped).
        summary: the finished sync, or ``None`` while it stays open.
        failures: pages that failed.
        written: totals of the page writes.
        hosts: per-host HTTP statistics (attempts, retries, breaker state).
    """

    plan: SourcePlan
    sync_id: int
    resumed: bool
    fetched_pages: int = 0
    summary: store.SyncSummary | None = None
    failures: list[PageFailure] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, HostStats] = field(default_factory=dict)


async def process_one_page(
    client: HttpClient, page: ZoningPage, h3_res: int, executor: Executor | None = None
) -> ProcessedPage:
    """Fetch a page, then parse and process it in ``executor`` (default: a thread)."""
    body = await fetch_page_body(client, page)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, process_page_body, body, h3_res)


def _begin(engine: sa.Engine, plan: SourcePlan) -> tuple[int, bool, set[str]]:
    store.create_tables(engine)
    with engine.begin() as conn:
        sync_id, resumed = store.begin_sync(
            conn,
            jurisdiction=plan.jurisdiction,
            layer=plan.layer,
            source=plan.source,
            key_field=plan.key_field,
            object_id_field=plan.object_id_field,
            expected_count=plan.expected_count,
        )
        done = store.committed_pages(conn, sync_id)
    return sync_id, resumed, done


def _commit(engine: sa.Engine, sync_id: int, key: str, page: ProcessedPage) -> store.WriteStats:
    with engine.begin() as conn:
        return store.commit_page(conn, sync_id, key, page)


def _add(totals: dict[str, int], stats: store.WriteStats) -> None:
    for name in ("inserted", "replaced", "rewritten", "unchanged", "rejected"):
        totals[name] = totals.get(name, 0) + getattr(stats, name)


@dataclass(frozen=True, slots=True)
class _Run:
    client: HttpClient
    engine: sa.Engine
    workers: int
    h3_res: int
    executor: Executor | None


async def _run_page(run: _Run, result: SyncResult, page: ZoningPage, writer: asyncio.Lock) -> None:
    try:
        processed = await process_one_page(run.client, page, run.h3_res, run.executor)
        key = page.key(result.sync_id)
        async with writer:
            stats = await asyncio.to_thread(_commit, run.engine, result.sync_id, key, processed)
        _add(result.written, stats)
    except ParcelflowError as exc:
        transient = isinstance(exc, TransientError)
        result.failures.append(PageFailure(page.index, exc.code, exc.message, transient))


async def _run_pages(run: _Run, result: SyncResult, todo: list[ZoningPage]) -> None:
    """The one place this driver bounds concurrency: ``run.workers`` page workers."""
    queue: asyncio.Queue[ZoningPage] = asyncio.Queue()
    for page in todo:
        queue.put_nowait(page)
    writer = asyncio.Lock()  # one commit at a time: SQLite has a single writer

    async def worker() -> None:
        while not queue.empty():
            await _run_page(run, result, queue.get_nowait(), writer)

    await asyncio.gather(*(worker() for _ in range(max(1, run.workers))))


async def run_sync(
    source: str,
    engine: sa.Engine,
    options: ZoningOptions | None = None,
    *,
    http: HttpSettings | None = None,
    executor: Executor | None = None,
) -> SyncResult:
    """Sync ``source`` into the database behind ``engine``.

    Args:
        source: an ArcGIS layer URL, or a GeoJSON file or URL.
        engine: SQLite or PostgreSQL; the zoning tables are created if missing.
        options: key field, jurisdiction, paging, H3 resolution, rate.
        http: client settings (default: from ``options.rate`` and ``max_in_flight``).
        executor: where pages are parsed and processed (default: the loop's
            thread pool; a process pool spreads JSON parsing over cores).

    Raises:
        ConfigError: a usage error in ``source`` or ``options``.
        PermanentError: the source cannot be planned (see :func:`plan_source`).
    """
    options = options or ZoningOptions()
    async with HttpClient(http or options.http_settings()) as client:
        plan = await plan_source(client, source, options)
        sync_id, resumed, done = await asyncio.to_thread(_begin, engine, plan)
        todo = [page for page in plan.pages if page.key(sync_id) not in done]
        result = SyncResult(plan, sync_id, resumed, fetched_pages=len(todo))
        run = _Run(client, engine, options.max_in_flight, options.h3_res, executor)
        await _run_pages(run, result, todo)
        result.hosts = client.report()
    if not any(f.transient for f in result.failures):
        result.summary = await asyncio.to_thread(_finish, engine, sync_id)
    return result


def _finish(engine: sa.Engine, sync_id: int) -> store.SyncSummary:
    with engine.begin() as conn:
        return store.finish_sync(conn, sync_id)

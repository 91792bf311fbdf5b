"""The ``parcelflow`` command.

Exit codes (a contract scripts rely on): 0 every job ended committed (or was
already committed); 1 the run completed but some jobs ended rejected,
quarantined or dead (or ``audit verify`` found a problem); 2 a usage or
configuration error, told in one line; 130 interrupted (state kept, resumable).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import logging
import os
import signal
import sys
import typing
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table

from parcelflow.core.engine import Engine, RunSummary
from parcelflow.core.job import JobRow, JobState
from parcelflow.core.ledger import Ledger
from parcelflow.core.pipeline import (
    Exporter,
    Pipeline,
    RunContext,
    exporter_for,
    get_pipeline,
    pipeline_names,
)
from parcelflow.errors import ConfigError, ParcelflowError
from parcelflow.interfaces.console import DbOption, err, out
from parcelflow.interfaces.progress import RunProgress
from parcelflow.interfaces.zoning_cli import zoning_app
from parcelflow.settings import EngineSettings, Settings
from parcelflow.stores import Store, open_store

__all__ = ["app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="parcelflow",
    help="Durable batch pipeline for property and municipal documents and records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(zoning_app, name="zoning")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str) -> typer.Exit:
    err.print(f"parcelflow: error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


@contextmanager
def _store(db: str | None) -> Iterator[Store]:
    url = db or Settings().db
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def _engine_settings(**overrides: Any) -> EngineSettings:
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return EngineSettings(**given)
    except ValidationError as exc:
        raise ConfigError(_validation_line(exc)) from exc


def _validation_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "value"
    return f"--{where.replace('_', '-')}: {first['msg']}"


# -- pipeline options ------------------------------------------------------------


def split_arguments(pipeline: Pipeline, args: Sequence[str]) -> tuple[list[str], BaseModel]:
    """Separate SOURCE arguments from the pipeline's own ``--kebab-case`` options.

    Raises:
        ConfigError: an option the pipeline does not have, or a bad value.
    """
    fields = pipeline.options.model_fields
    sources: list[str] = []
    values: dict[str, Any] = {}
    items = iter(args)
    for arg in items:
        if not arg.startswith("--") or arg == "--":
            sources.append(arg)
            continue
        name, _, inline = arg[2:].partition("=")
        field = name.replace("-", "_")
        if field not in fields:
            known = ", ".join("--" + f.replace("_", "-") for f in fields) or "none"
            raise ConfigError(f"{pipeline.name} has no option --{name} (its options: {known})")
        if fields[field].annotation is bool and not inline:
            values[field] = True
            continue
        value = inline or next(items, None)
        if value is None:
            raise ConfigError(f"--{name} needs a value")
        if _repeatable(fields[field].annotation):
            values.setdefault(field, []).append(value)  # --normalize A --normalize B
        else:
            values[field] = value
    try:
        return sources, pipeline.options(**values)
    except ValidationError as exc:
        raise ConfigError(_validation_line(exc)) from exc


def _repeatable(annotation: Any) -> bool:
    """Whether an option collects every value given (a list or tuple field)."""
    return typing.get_origin(annotation) in (list, tuple)


def default_batch(pipeline: str, sources: Sequence[str]) -> str:
    """A batch name that is the same each time the same command is run (so it resumes)."""
    names = sorted(os.path.abspath(s) for s in sources)
    return f"{pipeline}-{hashlib.sha256(json.dumps(names).encode()).hexdigest()[:10]}"


# -- running ---------------------------------------------------------------------


async def _run_engine(
    engine: Engine, job: Coroutine[Any, Any, RunSummary], progress: RunProgress | None
) -> RunSummary:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.stop)
    ticker = asyncio.create_task(progress.follow(engine)) if progress else None
    try:
        return await job
    finally:
        if ticker:
            ticker.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _exit_code(summary: RunSummary) -> int:
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed else EXIT_OK


def _report(summary: RunSummary, as_json: bool, title: str) -> None:
    if as_json:
        out.print(json.dumps(summary.as_json()), markup=False)
        return
    data = summary.as_json()
    rate = summary.ended / summary.elapsed_s if summary.elapsed_s else 0.0
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("outcome")
    table.add_column("jobs", justify="right")
    for name in ("committed", "duplicate", "rejected", "quarantined", "dead", "pending"):
        if data[name] or name in ("committed", "duplicate"):
            table.add_row(name, f"{data[name]:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{summary.total:,}[/bold]")
    table.add_row("elapsed", f"{summary.elapsed_s:.2f}s ({rate:,.0f} jobs/s)")
    out.print(table)
    for line in summary.report:
        out.print(line, markup=False)
    if summary.interrupted:
        out.print("interrupted: nothing is left running; run the same command again to resume")
    else:
        for state in ("rejected", "quarantined", "dead"):
            if getattr(summary, state):
                out.print(f"why: parcelflow jobs --batch {summary.batch} --state {state}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    ctx: typer.Context,
    pipeline_name: Annotated[str, typer.Argument(metavar="PIPELINE", help="Pipeline to run.")],
    db: DbOption = None,
    batch: Annotated[
        str | None,
        typer.Option(
            help="Batch name [default: from PIPELINE and SOURCE: the same command resumes]"
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs in flight at once [default: 128]")
    ] = None,
    processes: Annotated[
        int | None, typer.Option(help="Process pool for CPU-bound stages [default: cores]")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="local (this machine) or celery (workers via a broker)")
    ] = "local",
    broker: Annotated[
        str | None,
        typer.Option(
            help="Celery broker URL [env: PARCELFLOW_BROKER; default: redis://127.0.0.1:6379/0]"
        ),
    ] = None,
    shard_size: Annotated[int, typer.Option(help="Jobs per Celery shard message.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Run PIPELINE over SOURCE... (files, folders, globs, URLs) and commit the records.

    Pipeline options follow PIPELINE; `parcelflow pipelines` lists them.
    """
    pipeline = get_pipeline(pipeline_name)
    sources, options = split_arguments(pipeline, ctx.args)
    if not sources:
        raise ConfigError(f"give at least one SOURCE to run {pipeline.name} on")
    settings = _engine_settings(concurrency=concurrency, processes=processes)
    name = batch or default_batch(pipeline.name, sources)
    with _store(db) as store:
        submissions = pipeline.submissions(sources, options, RunContext(store, name))
        ledger = Ledger(store, lease_s=settings.lease_s, policy=_policy(settings))
        engine = _make_engine(
            backend, ledger, pipeline, options, settings, store.url, broker, shard_size
        )

        progress = None if as_json else RunProgress(err, pipeline.name)
        summary = asyncio.run(_run_engine(engine, engine.run(submissions, name), progress))
    _report(summary, as_json, f"{pipeline.name} · batch {name}")
    raise typer.Exit(_exit_code(summary))


def _make_engine(
    backend: str,
    ledger: Ledger,
    pipeline: Pipeline,
    options: BaseModel,
    settings: EngineSettings,
    db_url: str,
    broker: str | None,
    shard_size: int,
) -> Engine:
    if backend == "local":
        return Engine(ledger, pipeline, options, settings)
    if backend != "celery":
        raise ConfigError(f"--backend must be local or celery, not {backend!r}")
    if db_url == "memory://":
        raise ConfigError("--backend celery needs a database the workers share (postgresql://...)")
    if shard_size < 1:
        raise ConfigError("--shard-size must be at least 1")
    from parcelflow.distributed.app import create_app
    from parcelflow.distributed.coordinator import CeleryCoordinator

    app = create_app(broker or Settings().broker)
    return CeleryCoordinator(
        ledger, pipeline, options, settings, app=app, db_url=db_url, shard_size=shard_size
    )


@app.command()
def worker(
    db: DbOption = None,
    broker: Annotated[
        str | None,
        typer.Option(
            help="Celery broker URL [env: PARCELFLOW_BROKER; default: redis://127.0.0.1:6379/0]"
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes [default: cores]")
    ] = None,
    queues: Annotated[str, typer.Option(help="Queues to consume, comma-separated.")] = "parcelflow",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run a Celery worker that runs shards of any pipeline against the ledger."""
    from parcelflow.distributed.app import create_app, prepare_worker
    from parcelflow.interfaces import metrics

    if db:
        os.environ["PARCELFLOW_WORKER_DB"] = db
    store = open_store(db) if db else None  # fail fast on a bad --db, and for queue depth
    if metrics_port is not None:
        metrics.prepare_multiprocess()
        metrics.serve(metrics_port, store)
    celery_app = create_app(broker or Settings().broker)
    prepare_worker()
    argv = [
        "worker",
        f"--concurrency={concurrency or os.cpu_count() or 1}",
        f"--queues={queues}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=parcelflow-{os.getpid()}@%h",
    ]
    celery_app.worker_main(argv)


def _policy(settings: EngineSettings) -> Any:
    from parcelflow.core.policies.retry import RetryPolicy

    return RetryPolicy(
        max_attempts=settings.max_attempts,
        base=settings.retry_base_s,
        cap=settings.retry_cap_s,
        max_crashes=settings.max_crashes,
    )


@app.command()
def pipelines() -> None:
    """List the pipelines and the options each takes after its name in `run`."""
    for name in pipeline_names():
        pipeline = get_pipeline(name)
        out.print(f"{name}: {pipeline.summary}", markup=False)
        for field, info in pipeline.options.model_fields.items():
            flag = "--" + field.replace("_", "-")
            default = "" if info.is_required() else f" (default: {info.get_default()!r})"
            out.print(f"    {flag}{default}", markup=False)


@app.command()
def replay(
    job_ids: Annotated[
        list[int] | None, typer.Argument(metavar="[JOB_ID]...", help="Jobs to replay.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(help="Replay every job in this state (rejected, quarantined, dead)."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run rejected, quarantined or dead jobs again. Committed jobs commit nothing new."""
    if bool(job_ids) == bool(state):
        raise ConfigError("give either --state STATE or JOB_ID..., not both or neither")
    if state is not None and state not in ("rejected", "quarantined", "dead"):
        raise ConfigError(f"--state must be rejected, quarantined or dead, not {state!r}")
    settings = _engine_settings()
    with _store(db) as store:
        ledger = Ledger(store, lease_s=settings.lease_s, policy=_policy(settings))
        jobs_wanted = list(
            store.iter_jobs(ids=job_ids) if job_ids else store.iter_jobs(state=state)
        )
        missing = sorted(set(job_ids or ()) - {j.id for j in jobs_wanted})
        if missing:
            raise ConfigError(f"no job {', '.join(map(str, missing))} (see: parcelflow jobs)")
        for name in {j.pipeline for j in jobs_wanted}:
            get_pipeline(name)  # before anything moves: an unknown pipeline changes nothing
        wanted = [j.id for j in jobs_wanted]
        requeued = ledger.requeue(wanted)
        by_pipeline: dict[str, list[int]] = {}
        for job in requeued:
            by_pipeline.setdefault(job.pipeline, []).append(job.id)
        total = RunSummary(batch="replay")
        total.duplicate = len(set(wanted) - {j.id for j in requeued})
        total.total = total.duplicate
        for name, ids in by_pipeline.items():
            engine = Engine(ledger, get_pipeline(name), None, settings)
            progress = None if as_json else RunProgress(err, f"replay {name}")
            part = asyncio.run(_run_engine(engine, engine.drain(ids=ids), progress))
            _merge(total, part)
    _report(total, as_json, "replay")
    raise typer.Exit(_exit_code(total))


def _merge(total: RunSummary, part: RunSummary) -> None:
    for name in ("total", "committed", "duplicate", "rejected", "quarantined", "dead", "retried"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.elapsed_s += part.elapsed_s
    total.interrupted = total.interrupted or part.interrupted


# -- reading ---------------------------------------------------------------------

_STATE_ORDER = [s.value for s in JobState] + ["duplicate"]


def _states(store: Store, batch: str | None) -> dict[str, int]:
    states = store.state_counts(batch)
    duplicates = store.duplicate_count(batch)
    if duplicates:
        states["duplicate"] = duplicates
    return dict(sorted(states.items(), key=lambda kv: _STATE_ORDER.index(kv[0])))


@app.command()
def status(
    db: DbOption = None,
    batch: Annotated[str | None, typer.Option(help="One batch [default: all]")] = None,
    as_json: JsonOption = False,
) -> None:
    """Jobs per state, for one batch or all of them."""
    with _store(db) as store:
        if batch is not None and batch not in store.batch_names():
            raise ConfigError(f"no batch named {batch!r} (see: parcelflow status)")
        states = _states(store, batch)
        batches = [batch] if batch else store.batch_names()
        per_batch = {name: _states(store, name) for name in batches} if batch is None else {}
    if as_json:
        body: dict[str, Any] = {"batch": batch, "states": states}
        if batch is None:
            body["batches"] = [{"batch": b, "states": s} for b, s in per_batch.items()]
        out.print(json.dumps(body), markup=False)
        return
    rows = list(per_batch.items()) if batch is None else [(batch, states)]
    if batch is None:
        rows.append(("all jobs", states))
    for name, counts in rows:
        text = " · ".join(f"{state} {n:,}" for state, n in counts.items()) or "no jobs"
        out.print(f"{name}: {text}", markup=False)


def _job_json(job: JobRow) -> dict[str, Any]:
    return {
        "id": job.id,
        "key": job.key,
        "source": job.source,
        "state": job.state.value,
        "attempts": job.attempts,
        "reason": job.reason,
        "reason_code": job.reason_code,
        "pipeline": job.pipeline,
        "batch": job.batch,
        "crashes": job.crashes,
        "next_attempt_at": job.next_attempt_at,
        "updated_at": job.updated_at,
        "notes": job.notes,
    }


@app.command()
def jobs(
    db: DbOption = None,
    batch: Annotated[str | None, typer.Option(help="Jobs submitted in this batch.")] = None,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs (one JSON object per line with --json)."""
    if state is not None and state not in {s.value for s in JobState}:
        raise ConfigError(
            f"unknown state {state!r}; states: {', '.join(s.value for s in JobState)}"
        )
    with _store(db) as store:
        rows = store.iter_jobs(batch=batch, state=state)
        if as_json:
            for job in rows:
                out.print(json.dumps(_job_json(job)), markup=False)
            return
        table = Table("id", "state", "attempts", "source", "reason", header_style="bold")
        for job in rows:
            reason = f"{job.reason_code}: {job.reason}" if job.reason else ""
            table.add_row(str(job.id), job.state.value, str(job.attempts), job.source, reason)
        out.print(table)


def _evidence_line(evidence: Any) -> str:
    if isinstance(evidence, dict):
        page = evidence.get("page")
        text = " ".join(str(evidence.get("text", "")).split())
        derived = " (derived)" if evidence.get("derived") else ""
        return (f"p.{page}: " if page else "") + f"“{text}”{derived}"
    return "" if evidence is None else str(evidence)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _show_record(fields: dict[str, Any]) -> Table:
    confidence = _as_dict(fields.get("confidence"))
    evidence = _as_dict(fields.get("evidence"))
    table = Table("field", "value", "confidence", "evidence", header_style="bold")
    for name, value in fields.items():
        if name in ("confidence", "evidence"):
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        score = confidence.get(name)
        table.add_row(
            name,
            "—" if shown is None else str(shown),
            "" if score is None else f"{score:.2f}",
            _evidence_line(evidence.get(name)),
        )
    return table


@app.command()
def show(
    job_id: Annotated[int, typer.Argument(metavar="JOB_ID", help="The job to show.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One job: its state and history, and its record field by field with evidence."""
    with _store(db) as store:
        rows = list(store.iter_jobs(ids=[job_id]))
        if not rows:
            raise ConfigError(f"no job {job_id} (see: parcelflow jobs)")
        found = store.records_of_job(job_id)
    job = rows[0]
    if as_json:
        body = {
            **_job_json(job),
            "records": [{"collection": c, "key": k, "fields": f} for c, k, f in found],
        }
        out.print(json.dumps(body, ensure_ascii=False), markup=False)
        return
    out.print(
        f"job {job.id} · {job.pipeline} · {job.state.value} · attempts {job.attempts}", markup=False
    )
    out.print(f"source: {job.source}", markup=False)
    if job.reason:
        out.print(f"reason: {job.reason_code}: {job.reason}", markup=False)
    if job.notes:
        out.print(f"notes: {json.dumps(job.notes, ensure_ascii=False)}", markup=False)
    for collection, key, fields in found:
        out.print(f"\n{collection} record {key}", markup=False)
        out.print(_show_record(fields))


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Check every link of the audit chain and reconcile it with the ledger."""
    with _store(db) as store:
        report, ledger_states = Ledger(store).verify()
    if not report.intact:
        out.print(f"audit: BROKEN at event {report.broken_at}: {report.problem}", markup=False)
        raise typer.Exit(EXIT_FAILED)
    mismatched = {
        s: (report.final_states.get(s, 0), ledger_states.get(s, 0))
        for s in set(report.final_states) | set(ledger_states)
        if report.final_states.get(s, 0) != ledger_states.get(s, 0)
    }
    out.print(f"audit: {report.events} events, chain intact", markup=False)
    counts = ", ".join(f"{s} {n}" for s, n in sorted(ledger_states.items()))
    if mismatched:
        detail = ", ".join(
            f"{s}: log {a} vs ledger {b}" for s, (a, b) in sorted(mismatched.items())
        )
        out.print(f"audit: does NOT reconcile with the ledger ({detail})", markup=False)
        raise typer.Exit(EXIT_FAILED)
    out.print(f"audit: reconciles with the ledger ({counts or 'no jobs'})", markup=False)


def _known_pipelines() -> None:
    """Import every pipeline, so that their writers and exporters are registered."""
    for name in pipeline_names():
        get_pipeline(name)


def _export_custom(
    exporter: Exporter, store: Store, fmt: str, out_file: Path | None, records: str
) -> None:
    if out_file is None:
        exporter(store, fmt, sys.stdout)
        return
    with out_file.open("w", newline="", encoding="utf-8") as stream:
        count = exporter(store, fmt, stream)
    err.print(f"wrote {count} {records} records to {out_file}", markup=False)


def _known_collections(store: Store) -> list[str]:
    names = {get_pipeline(p).collection for p in pipeline_names()}
    return sorted(names | set(store.collections()))


def _flatten(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _write_records(rows: Iterator[dict[str, Any]], fmt: str, stream: TextIO) -> int:
    count = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if fmt == "jsonl":
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(stream, fieldnames=list(row), extrasaction="ignore")
                writer.writeheader()
            writer.writerow({k: _flatten(v) for k, v in row.items()})
        count += 1
    return count


@app.command()
def export(
    records: Annotated[
        str, typer.Argument(metavar="RECORDS", help="Collection to export (e.g. inventory).")
    ],
    db: DbOption = None,
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl or csv (zoning: also geojson)")
    ] = "jsonl",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write every committed record of a collection, one per line."""
    _known_pipelines()
    custom = exporter_for(records)
    formats = custom[1] if custom else ("jsonl", "csv")
    if fmt not in formats:
        raise ConfigError(f"--format must be {' or '.join(formats)}, not {fmt!r}")
    with _store(db) as store:
        known = _known_collections(store)
        if records not in known:
            raise ConfigError(f"no record collection {records!r}; known: {', '.join(known)}")
        if custom is not None:
            _export_custom(custom[0], store, fmt, out_file, records)
            return
        rows = (
            {"job_id": job_id, **fields} for job_id, _key, fields in store.iter_records(records)
        )
        if out_file is None:
            _write_records(rows, fmt, sys.stdout)
            return
        with out_file.open("w", newline="", encoding="utf-8") as stream:
            count = _write_records(rows, fmt, stream)
        err.print(f"wrote {count} {records} records to {out_file}", markup=False)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="parcelflow: %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and turn parcelflow errors into one line and exit 2."""
    try:
        # Without standalone mode Click returns a command's exit code instead of raising.
        code = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except ConfigError as exc:
        err.print(f"parcelflow: error: {exc.message}", markup=False)
        return EXIT_USAGE
    except ParcelflowError as exc:
        err.print(f"parcelflow: error: {exc.message}", markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _click_or_raise(exc)
    return code if isinstance(code, int) else EXIT_OK


def _click_or_raise(exc: Exception) -> int:
    # Typer bundles its own copy of Click, so its usage errors are matched by
    # shape (``format_message``/``exit_code``), whichever Click raised them.
    if type(exc).__name__ == "Abort":
        return EXIT_INTERRUPTED
    message = getattr(exc, "format_message", None)
    if callable(message) and isinstance(getattr(exc, "exit_code", None), int):
        err.print(f"parcelflow: error: {' '.join(str(message()).split())}", markup=False)
        return EXIT_USAGE
    raise exc


if __name__ == "__main__":
    sys.exit(main())

"""The storage contract on SQLAlchemy Core: one schema, SQLite and PostgreSQL.

Dialect differences (locking, upsert syntax, connection set-up) live in
:mod:`parcelflow.stores.sqlite` and :mod:`parcelflow.stores.postgres`; this
module holds the schema and every named operation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter

from parcelflow.core.audit import GENESIS, AuditEvent
from parcelflow.core.job import JobRow, JobState
from parcelflow.stores.base import RecordRow, SubmissionRow

__all__ = ["SCHEMA_VERSION", "BulkWrite", "SqlStore", "Upsert", "metadata"]

SCHEMA_VERSION = 1
T = TypeVar("T")

_CHUNK = 500  # keys per IN (...) list: well under SQLite's bound-parameter limit

metadata = MetaData()
_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY

jobs = Table(
    "pf_jobs",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("pipeline", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("source", Text, nullable=False),
    Column("batch", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("crashes", Integer, nullable=False),
    Column("next_attempt_at", Float),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", Float),
    Column("reason_code", String(64)),
    Column("reason", Text),
    Column("notes", Text),
    Column("result_digest", String(64)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("pipeline", "key", name="pf_jobs_pipeline_key"),
    Index("pf_jobs_state", "pipeline", "state"),
    Index("pf_jobs_batch", "batch"),
)

submissions = Table(
    "pf_submissions",
    metadata,
    Column("batch", String(200), primary_key=True),
    Column("source", Text, primary_key=True),
    Column("job_id", _Id, nullable=False),
    Column("duplicate", Boolean, nullable=False),
    Column("at", Float, nullable=False),
    Index("pf_submissions_job", "job_id"),
)

records = Table(
    "pf_records",
    metadata,
    Column("collection", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("job_id", _Id, nullable=False),
    Column("fields", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("pf_records_job", "job_id"),
)

audit_events = Table(
    "pf_audit",
    metadata,
    Column("seq", _Id, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("job_id", _Id, nullable=False),
    Column("event", String(32), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("reason_code", String(64)),
    Column("digest", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "pf_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", _Id, nullable=False),
    Column("hash", String(64), nullable=False),
)

schema_info = Table(
    "pf_schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

MUTABLE_JOB_COLUMNS = (
    "state",
    "attempts",
    "crashes",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    "reason_code",
    "reason",
    "notes",
    "result_digest",
    "updated_at",
)
_UPDATE_JOB = (
    jobs.update()
    .where(jobs.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in MUTABLE_JOB_COLUMNS})
)
_INSERT_JOB = jobs.insert().values({c.name: bindparam(c.name) for c in jobs.c if c.name != "id"})
_INSERT_AUDIT = audit_events.insert().values({c.name: bindparam(c.name) for c in audit_events.c})


class Upsert(NamedTuple):
    """An upsert: insert ``keys`` + ``values``; on a key conflict, update ``values``
    where the ``changed`` column differs."""

    table: Table
    keys: tuple[str, ...]
    values: tuple[str, ...]
    changed: str


RECORD_UPSERT = Upsert(
    records, ("collection", "key"), ("job_id", "fields", "digest", "updated_at"), "digest"
)
SUBMISSION_UPSERT = Upsert(
    submissions, ("batch", "source"), ("job_id", "duplicate", "at"), "job_id"
)

_SET_AUDIT_HEAD = (
    audit_head.update()
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)
_UPDATE_JOB_IF = (
    jobs.update()
    .where(
        jobs.c.id == bindparam("b_id"),
        jobs.c.state == bindparam("b_expect_state"),
        jobs.c.lease_owner == bindparam("b_expect_owner"),
    )
    .values({name: bindparam(f"b_{name}") for name in MUTABLE_JOB_COLUMNS})
)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_JSON_COLUMNS = frozenset({"payload", "notes"})
_JOB_COLUMNS = tuple(c.name for c in jobs.c)


def job_from_row(row: Any) -> JobRow:
    """A :class:`JobRow` from a result row of ``pf_jobs``."""
    values = dict(row._mapping)
    values["state"] = JobState(values["state"])
    values["payload"] = json.loads(values["payload"])
    values["notes"] = json.loads(values["notes"]) if values["notes"] else None
    return JobRow(**values)


def _job_values(job: JobRow) -> dict[str, Any]:
    """Every column of ``job`` as the database stores it (state as text, JSON as text)."""
    values = {name: getattr(job, name) for name in _JOB_COLUMNS}
    values["state"] = job.state.value
    for name in _JSON_COLUMNS:
        values[name] = _dumps(values[name])
    return values


def _job_params(job: JobRow) -> dict[str, Any]:
    values = _job_values(job)
    return {f"b_{name}": values[name] for name in ("id", *MUTABLE_JOB_COLUMNS)}


def _event_from_row(row: Any) -> AuditEvent:
    m = row._mapping
    return AuditEvent(
        seq=m["seq"],
        at=m["at"],
        job_id=m["job_id"],
        event=m["event"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        reason_code=m["reason_code"],
        digest=m["digest"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


@dataclass(frozen=True)
class BulkWrite:
    """A many-row write as one statement that takes every row in one JSON parameter.

    Rows that repeat a value of ``unique`` (an upsert's conflict key, an
    update's id) are left to the row-by-row form: one statement may not touch
    a row twice, and the outcome of a repeat depends on row order.
    """

    sql: str
    unique: tuple[str, ...] = ()

    def accepts(self, rows: Sequence[dict[str, Any]]) -> bool:
        if not self.unique:
            return True
        pick = itemgetter(*self.unique)
        return len({pick(row) for row in rows}) == len(rows)

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
        document = json.dumps(list(rows), separators=(",", ":"), ensure_ascii=False)
        return int(conn.exec_driver_sql(self.sql, (document,)).rowcount)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlTx:
    """The named operations, run on one connection inside one transaction."""

    def __init__(self, conn: Connection, store: SqlStore) -> None:
        self.conn = conn
        self._store = store

    def _locked(self, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        return self._store.lock(query, skip_locked=skip_locked)

    def _executemany(
        self, stmt: Any, rows: Sequence[dict[str, Any]], bulk: str | None = None
    ) -> int:
        """Write ``rows`` with ``stmt`` straight on the driver; return the rows affected.

        The hot write path (every job's insert, transitions, audit events,
        records) skips SQLAlchemy's per-row parameter processing: the statement
        is compiled once per dialect and the driver gets plain values. Only
        JSON-ready Python scalars are passed, so no type processing is lost.
        Where the dialect has a one-statement form for the operation ``bulk``
        (PostgreSQL: every row in one JSON parameter), several rows go as one statement;
        otherwise the driver's ``executemany`` runs ``stmt`` once per row.
        """
        columnar = self._store.bulk_write(bulk) if bulk and len(rows) > 1 else None
        if columnar is not None and columnar.accepts(rows):
            return columnar.run(self.conn, rows)
        sql, order = self._store.compiled(stmt, self.conn)
        if order is None:
            params: Sequence[Any] = rows
        elif len(order) == 1:
            params = [(r[order[0]],) for r in rows]
        else:
            params = list(map(itemgetter(*order), rows))  # C-speed dict-to-tuple
        return int(self.conn.exec_driver_sql(sql, params).rowcount)

    def lock_audit_head(self) -> tuple[int, str]:
        query = self._store.prebuilt(
            "lock_audit_head",
            lambda: self._locked(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
            ),
        )
        seq, hashed = self.conn.execute(query).one()
        return int(seq), str(hashed)

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        rows = [
            {
                "seq": e.seq,
                "at": e.at,
                "job_id": e.job_id,
                "event": e.event,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "reason_code": e.reason_code,
                "digest": e.digest,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in events
        ]
        self._executemany(_INSERT_AUDIT, rows, "insert_audit")
        last = events[-1]
        self.conn.execute(_SET_AUDIT_HEAD, {"b_seq": last.seq, "b_hash": last.hash})

    def find_jobs(self, pipeline: str, keys: Sequence[str]) -> dict[str, JobRow]:
        found: dict[str, JobRow] = {}
        for part in _chunks(list(dict.fromkeys(keys))):
            query = select(jobs).where(jobs.c.pipeline == pipeline, jobs.c.key.in_(part))
            for row in self.conn.execute(self._locked(query)):
                job = job_from_row(row)
                found[job.key] = job
        return found

    def lock_jobs(self, ids: Sequence[int]) -> dict[int, JobRow]:
        found: dict[int, JobRow] = {}
        for part in _chunks(list(dict.fromkeys(ids))):
            query = select(jobs).where(jobs.c.id.in_(part)).order_by(jobs.c.id)
            for row in self.conn.execute(self._locked(query)):
                found[row.id] = job_from_row(row)
        return found

    def insert_jobs(self, rows: Sequence[JobRow]) -> list[int]:
        if not rows:
            return []
        params = [_job_values(r) for r in rows]
        # Inserted in bulk, then the new ids read back by key: (pipeline, key) is
        # unique and this transaction holds the write lock. (An ordered RETURNING
        # makes SQLAlchemy insert row by row on SQLite.)
        self._executemany(_INSERT_JOB, params, "insert_jobs")
        ids: dict[tuple[str, str], int] = {}
        for pipeline in {r.pipeline for r in rows}:
            keys = [r.key for r in rows if r.pipeline == pipeline]
            for part in _chunks(keys):
                query = select(jobs.c.id, jobs.c.key).where(
                    jobs.c.pipeline == pipeline, jobs.c.key.in_(part)
                )
                ids.update({(pipeline, key): int(i) for i, key in self.conn.execute(query)})
        return [ids[(r.pipeline, r.key)] for r in rows]

    def update_jobs(self, rows: Sequence[JobRow]) -> None:
        if rows:
            self._executemany(_UPDATE_JOB, [_job_params(r) for r in rows], "update_jobs")

    def update_jobs_if(self, rows: Sequence[JobRow], state: str, owner: str) -> int:
        if not rows:
            return 0
        params = [
            {**_job_params(r), "b_expect_state": state, "b_expect_owner": owner} for r in rows
        ]
        return self._executemany(_UPDATE_JOB_IF, params, "update_jobs_if")

    def claimable(
        self,
        pipeline: str | None,
        now: float,
        limit: int,
        *,
        ids: Sequence[int] | None = None,
        batch: str | None = None,
    ) -> list[JobRow]:
        params: dict[str, Any] = {"now": now, "limit": limit}
        if pipeline is not None:
            params["pipeline"] = pipeline
        if batch is not None:
            params["batch"] = batch
        if ids is not None:
            params["ids"] = list(ids)[:_CHUNK]

        def build() -> Select[Any]:
            now_: BindParameter[float] = bindparam("now")
            query = select(jobs).where(
                or_(
                    jobs.c.state == JobState.QUEUED.value,
                    and_(jobs.c.state == JobState.RETRY_WAIT.value, jobs.c.next_attempt_at <= now_),
                    and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < now_),
                )
            )
            if pipeline is not None:
                query = query.where(jobs.c.pipeline == bindparam("pipeline"))
            if batch is not None:
                query = query.where(jobs.c.batch == bindparam("batch"))
            if ids is not None:
                query = query.where(jobs.c.id.in_(bindparam("ids", expanding=True)))
            query = query.order_by(jobs.c.id).limit(bindparam("limit"))
            return self._locked(query, skip_locked=True)

        query = self._store.prebuilt(("claimable", *sorted(params)), build)
        return [job_from_row(row) for row in self.conn.execute(query, params)]

    def running_owned_by(self, owner_prefix: str) -> list[JobRow]:
        query = select(jobs).where(
            jobs.c.state == JobState.RUNNING.value,
            func.substr(jobs.c.lease_owner, 1, len(owner_prefix)) == owner_prefix,
        )
        # SKIP LOCKED: a row another transaction holds belongs to a live worker at
        # work on it. Waiting for it (while holding the rows locked so far) deadlocked
        # against that worker's group commit, which locks the same rows in its order.
        query = self._locked(query, skip_locked=True)
        return [job_from_row(row) for row in self.conn.execute(query)]

    def upsert_records(self, rows: Sequence[RecordRow]) -> None:
        if not rows:
            return
        params = [
            {
                "collection": r.collection,
                "key": r.key,
                "job_id": r.job_id,
                "fields": _dumps(dict(r.fields)),
                "digest": r.digest,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]
        stmt = self._store.cached_upsert(RECORD_UPSERT)
        self._executemany(stmt, params, "upsert_records")

    def upsert_submissions(self, rows: Sequence[SubmissionRow]) -> None:
        if not rows:
            return
        params = [
            {
                "batch": r.batch,
                "source": r.source,
                "job_id": r.job_id,
                "duplicate": r.duplicate,
                "at": r.at,
            }
            for r in rows
        ]
        stmt = self._store.cached_upsert(SUBMISSION_UPSERT)
        self._executemany(stmt, params, "upsert_submissions")

    def extend_leases(self, owner: str, until: float) -> int:
        result = self.conn.execute(
            jobs.update()
            .where(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_owner == owner)
            .values(lease_expires_at=until)
        )
        return int(result.rowcount)


class SqlStore:
    """Shared implementation; subclasses set up the engines and dialect specifics."""

    def __init__(self, url: str, write_engine: Engine, read_engine: Engine) -> None:
        self.url = url
        self._write = write_engine
        self._read = read_engine
        self._compiled: dict[int, tuple[Any, str, tuple[str, ...] | None]] = {}
        self._prebuilt: dict[Any, Any] = {}
        self._create_schema()

    def compiled(self, stmt: Any, conn: Connection) -> tuple[str, tuple[str, ...] | None]:
        """``stmt`` as driver SQL, and the parameter order when the driver is positional."""
        key = id(stmt)
        cached = self._compiled.get(key)
        if cached is None or cached[0] is not stmt:
            done = stmt.compile(dialect=conn.dialect)
            order = tuple(done.positiontup) if done.positional and done.positiontup else None
            cached = (stmt, str(done), order)
            self._compiled[key] = cached
        return cached[1], cached[2]

    def prebuilt(self, key: Any, build: Callable[[], T]) -> T:
        """The statement ``build`` makes, made once per ``key`` and then reused.

        The ledger runs the same few statements in every transaction; building
        one anew costs ~0.2 ms of SQLAlchemy's expression work each time.
        """
        found = self._prebuilt.get(key)
        if found is None:
            found = self._prebuilt[key] = build()
        return cast(T, found)

    def cached_upsert(self, spec: Upsert) -> Any:
        """The dialect's upsert for ``spec``, built once (so it compiles once)."""
        return self.prebuilt(
            ("upsert", spec.table.name),
            lambda: self.upsert(
                spec.table, list(spec.keys), list(spec.values), changed=spec.changed
            ),
        )

    # -- dialect hooks -------------------------------------------------------

    def lock(self, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        """Add row locking where the dialect has it."""
        return query

    def bulk_write(self, operation: str) -> BulkWrite | None:
        """The one-statement form of the many-row write ``operation``, if the dialect has one."""
        return None

    def upsert(self, table: Table, keys: list[str], values: list[str], *, changed: str) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE values WHERE the ``changed`` column differs."""
        raise NotImplementedError

    def _schema_lock(self, conn: Connection) -> None:
        """Serialise schema creation between processes starting together."""

    # -- schema --------------------------------------------------------------

    def _create_schema(self) -> None:
        with self._write.begin() as conn:
            self._schema_lock(conn)
            metadata.create_all(conn, checkfirst=True)
            if conn.execute(select(audit_head.c.id)).first() is None:
                conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
            version = conn.execute(select(schema_info.c.version)).scalar()
            if version is None:
                conn.execute(schema_info.insert().values(id=1, version=SCHEMA_VERSION))
            elif version > SCHEMA_VERSION:
                from parcelflow.errors import ConfigError

                raise ConfigError(
                    f"database schema v{version} is newer than this parcelflow (v{SCHEMA_VERSION});"
                    " upgrade parcelflow"
                )

    # -- transactions --------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        with self._write.begin() as conn:
            yield SqlTx(conn, self)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._read.connect() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection, for a pipeline's own reports (zoning changes, export)."""
        with self._reading() as conn:
            yield conn

    def _stream(self, query: Select[Any]) -> Iterator[Any]:
        """Rows of ``query`` fetched a thousand at a time (a server-side cursor on PostgreSQL)."""
        with self._read.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(query)
            try:
                yield from result
            finally:
                result.close()  # before the connection, even when the caller stops early

    # -- reads ---------------------------------------------------------------

    def state_counts(self, batch: str | None = None) -> dict[str, int]:
        query = select(jobs.c.state, func.count()).group_by(jobs.c.state)
        if batch is not None:
            query = query.join(submissions, submissions.c.job_id == jobs.c.id).where(
                submissions.c.batch == batch, submissions.c.duplicate.is_(False)
            )
        with self._reading() as conn:
            return {state: int(n) for state, n in conn.execute(query)}

    def duplicate_count(self, batch: str | None = None) -> int:
        query = select(func.count()).select_from(submissions).where(submissions.c.duplicate)
        if batch is not None:
            query = query.where(submissions.c.batch == batch)
        with self._reading() as conn:
            return int(conn.execute(query).scalar() or 0)

    def batch_names(self) -> list[str]:
        first = func.min(submissions.c.at)
        query = select(submissions.c.batch).group_by(submissions.c.batch).order_by(first)
        with self._reading() as conn:
            return [str(b) for b in conn.execute(query).scalars()]

    def iter_jobs(
        self,
        *,
        batch: str | None = None,
        state: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> Iterator[JobRow]:
        query = select(jobs).order_by(jobs.c.id)
        if batch is not None:
            in_batch = select(submissions.c.job_id).where(submissions.c.batch == batch)
            query = query.where(jobs.c.id.in_(in_batch))
        if state is not None:
            query = query.where(jobs.c.state == state)
        if ids is not None:
            query = query.where(jobs.c.id.in_(list(ids)))
        if ids is not None and len(ids) <= _CHUNK:
            # A shard's own jobs: one round trip, not a server-side cursor's four.
            with self._reading() as conn:
                rows: Iterator[Any] = iter(conn.execute(query).all())
        else:
            rows = self._stream(query)
        for row in rows:
            yield job_from_row(row)

    def iter_records(self, collection: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        query = (
            select(records.c.job_id, records.c.key, records.c.fields)
            .where(records.c.collection == collection)
            .order_by(records.c.key)
        )
        for job_id, key, fields in self._stream(query):
            yield int(job_id), str(key), json.loads(fields)

    def records_of_job(self, job_id: int) -> list[tuple[str, str, dict[str, Any]]]:
        query = (
            select(records.c.collection, records.c.key, records.c.fields)
            .where(records.c.job_id == job_id)
            .order_by(records.c.collection, records.c.key)
        )
        with self._reading() as conn:
            return [(str(c), str(k), json.loads(f)) for c, k, f in conn.execute(query)]

    def iter_audit(self) -> Iterator[AuditEvent]:
        for row in self._stream(select(audit_events).order_by(audit_events.c.seq)):
            yield _event_from_row(row)

    def audit_head(self) -> tuple[int, str]:
        with self._reading() as conn:
            seq, hashed = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
        return int(seq), str(hashed)

    def state_changes(self, after_seq: int, limit: int = 10_000) -> list[tuple[int, int, str]]:
        columns = (audit_events.c.seq, audit_events.c.job_id, audit_events.c.to_state)
        query = (
            select(*columns)
            .where(audit_events.c.seq > after_seq)
            .order_by(audit_events.c.seq)
            .limit(limit)
        )
        with self._reading() as conn:
            return [(int(seq), int(job), str(state)) for seq, job, state in conn.execute(query)]

    def collections(self) -> list[str]:
        query = select(records.c.collection).distinct().order_by(records.c.collection)
        with self._reading() as conn:
            return [str(c) for c in conn.execute(query).scalars()]

    def close(self) -> None:
        self._write.dispose()
        if self._read is not self._write:
            self._read.dispose()

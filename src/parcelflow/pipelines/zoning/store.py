"""Zoning feature storage: syncs, versioned features, and the reads reports need.

Tables (their own :class:`~sqlalchemy.MetaData`, :data:`metadata`):

* ``zoning_syncs`` — one row per sync (a snapshot of a layer): expected and
  seen counts, the mismatch if any, and whether removals were applied.
* ``zoning_features`` — one row per *version* of a feature, keyed by
  (jurisdiction, layer, feature key) and valid over ``[valid_from, valid_to)``
  in sync ids. The current version has ``valid_to IS NULL`` (a partial unique
  index enforces one per key). A feature whose attributes and geometry hash
  are unchanged gets no new version and is not written at all.
* ``zoning_sightings`` — the keys a sync has seen so far (rejected ones with
  their reason); used to find removals when the sync finishes.
* ``zoning_pages`` — pages committed per sync, with their counts.

Every function takes a :class:`sqlalchemy.Connection` and runs inside the
transaction its caller opened (the engine's job-commit transaction); none commits.
:func:`write_features` takes the PostgreSQL bulk path (binary ``COPY`` into a
temporary staging table, then set-based merge statements) or, on SQLite,
batched upserts after one batched read of the current versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from parcelflow.errors import ConfigError
from parcelflow.pipelines.zoning.diff import FeatureState
from parcelflow.pipelines.zoning.records import FeatureRow, ProcessedPage, Rejection

__all__ = [
    "PageReceipt",
    "StoredFeature",
    "SyncInfo",
    "SyncSummary",
    "WriteStats",
    "begin_sync",
    "changed_states",
    "commit_page",
    "committed_pages",
    "create_tables",
    "features",
    "finish_sync",
    "get_sync",
    "iter_current",
    "list_syncs",
    "metadata",
    "pages",
    "sightings",
    "sync_pair",
    "syncs",
    "write_features",
]

metadata = sa.MetaData()
_current = sa.text("valid_to IS NULL")
_open = sa.text("status = 'open'")

syncs = sa.Table(
    "zoning_syncs",
    metadata,
    sa.Column("sync_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("jurisdiction", sa.Text, nullable=False),
    sa.Column("layer", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("key_field", sa.Text),
    sa.Column("object_id_field", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("expected_count", sa.Integer),
    sa.Column("received_count", sa.Integer),
    sa.Column("seen_count", sa.Integer),
    sa.Column("rejected_count", sa.Integer),
    sa.Column("count_mismatch", sa.Integer),
    sa.Column("removed_count", sa.Integer),
    sa.Column("removals_applied", sa.Boolean),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text),
    sa.Index("zoning_syncs_layer", "jurisdiction", "layer", "sync_id"),
    sa.Index(
        "zoning_syncs_one_open",
        "jurisdiction",
        "layer",
        unique=True,
        sqlite_where=_open,
        postgresql_where=_open,
    ),
)

features = sa.Table(
    "zoning_features",
    metadata,
    sa.Column(
        "version_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("jurisdiction", sa.Text, nullable=False),
    sa.Column("layer", sa.Text, nullable=False),
    sa.Column("feature_key", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Integer, nullable=False),
    sa.Column("valid_to", sa.Integer),
    sa.Column("attrs", sa.Text, nullable=False),
    sa.Column("attrs_hash", sa.String(64), nullable=False),
    sa.Column("geom_wkb", sa.LargeBinary, nullable=False),
    sa.Column("geom_hash", sa.String(64), nullable=False),
    sa.Column("h3", sa.String(16), nullable=False),
    sa.Index(
        "zoning_features_current",
        "jurisdiction",
        "layer",
        "feature_key",
        unique=True,
        sqlite_where=_current,
        postgresql_where=_current,
    ),
    # Sync ids are global and each belongs to one layer, so these need no layer
    # prefix; with one, PostgreSQL without statistics may probe a key through
    # them (reading the whole layer) instead of through zoning_features_current.
    sa.Index("zoning_features_from", "valid_from"),
    sa.Index("zoning_features_to", "valid_to"),
)

sightings = sa.Table(
    "zoning_sightings",
    metadata,
    sa.Column("sync_id", sa.Integer, primary_key=True),
    sa.Column("feature_key", sa.Text, primary_key=True),
    sa.Column("rejected_code", sa.Text),
    sa.Column("rejected_message", sa.Text),
)

pages = sa.Table(
    "zoning_pages",
    metadata,
    sa.Column("sync_id", sa.Integer, primary_key=True),
    sa.Column("page_key", sa.String(64), primary_key=True),
    sa.Column("received", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("exceeded", sa.Boolean, nullable=False),
)

_IN_CHUNK = 500


def create_tables(bind: sa.Engine | sa.Connection) -> None:
    """Create the zoning tables that do not exist yet."""
    metadata.create_all(bind)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """A sync as stored."""

    sync_id: int
    jurisdiction: str
    layer: str
    source: str
    key_field: str | None
    object_id_field: str | None
    status: str
    expected_count: int | None
    started_at: datetime
    finished_at: datetime | None


def _sync_info(row: sa.Row[Any]) -> SyncInfo:
    return SyncInfo(
        row.sync_id,
        row.jurisdiction,
        row.layer,
        row.source,
        row.key_field,
        row.object_id_field,
        row.status,
        row.expected_count,
        row.started_at,
        row.finished_at,
    )


def get_sync(conn: sa.Connection, sync_id: int) -> SyncInfo:
    """The sync ``sync_id``.

    Raises:
        ConfigError: there is no such sync.
    """
    row = conn.execute(sa.select(syncs).where(syncs.c.sync_id == sync_id)).first()
    if row is None:
        raise ConfigError(f"no zoning sync {sync_id}; list them with `parcelflow zoning syncs`")
    return _sync_info(row)


def begin_sync(
    conn: sa.Connection,
    *,
    jurisdiction: str,
    layer: str,
    source: str,
    key_field: str | None,
    object_id_field: str | None = None,
    expected_count: int | None = None,
) -> tuple[int, bool]:
    """Open a sync of a layer, or resume the one left open by a killed run.

    Returns:
        ``(sync_id, resumed)``.
    """
    where = (syncs.c.jurisdiction == jurisdiction) & (syncs.c.layer == layer)
    row = conn.execute(sa.select(syncs.c.sync_id).where(where, syncs.c.status == "open")).first()
    if row is not None:
        values = {"expected_count": expected_count, "source": source}
        conn.execute(syncs.update().where(syncs.c.sync_id == row.sync_id).values(**values))
        return int(row.sync_id), True
    inserted = conn.execute(
        syncs.insert().values(
            jurisdiction=jurisdiction,
            layer=layer,
            source=source,
            key_field=key_field,
            object_id_field=object_id_field,
            status="open",
            expected_count=expected_count,
            started_at=_now(),
        )
    )
    key = inserted.inserted_primary_key
    assert key is not None
    return int(key[0]), False


@dataclass(frozen=True, slots=True)
class WriteStats:
    """What :func:`write_features` did.

    Attributes:
        inserted: keys seen for the first time (or again after a removal).
        replaced: keys whose attributes or geometry changed: old version closed, new added.
        rewritten: keys written earlier in the same sync and now different (updated in place).
        unchanged: keys identical to their current version: nothing written.
        rejected: rejected features recorded as seen.
    """

    inserted: int = 0
    replaced: int = 0
    rewritten: int = 0
    unchanged: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class PageReceipt:
    """A committed page: its key and what the server sent."""

    key: str
    received: int
    duplicates: int = 0
    exceeded: bool = False


@dataclass(frozen=True, slots=True)
class _Scope:
    sync_id: int
    jurisdiction: str
    layer: str


def _scope(conn: sa.Connection, sync_id: int) -> _Scope:
    sync = get_sync(conn, sync_id)
    if sync.status != "open":
        raise ConfigError(f"zoning sync {sync_id} is {sync.status}; start a new sync instead")
    return _Scope(sync_id, sync.jurisdiction, sync.layer)


def _unique(
    rows: Iterable[FeatureRow], rejected: Iterable[Rejection]
) -> tuple[list[FeatureRow], list[Rejection]]:
    by_key = {row.key: row for row in rows}
    refused = {r.key: r for r in rejected if r.key is not None and r.key not in by_key}
    return list(by_key.values()), list(refused.values())


def write_features(
    conn: sa.Connection,
    sync_id: int,
    rows: Sequence[FeatureRow],
    rejected: Sequence[Rejection] = (),
    *,
    page: PageReceipt | None = None,
) -> WriteStats:
    """Upsert a page of features into sync ``sync_id``, inside the caller's transaction.

    Unchanged features (same attribute and geometry hashes as their current
    version) are not written; changed ones get a new version; rejected ones
    are recorded as seen so that the sync does not report them removed.

    Args:
        conn: a connection inside an open transaction.
        sync_id: an open sync (see :func:`begin_sync`).
        rows: clean features; duplicates of a key are resolved, the last one winning.
        rejected: features left out, recorded with their reasons.
        page: the page's key and counts, recorded for the final count check.
    """
    scope = _scope(conn, sync_id)
    unique_rows, refused = _unique(rows, rejected)
    if conn.dialect.name == "postgresql":
        stats = _write_copy(conn, scope, unique_rows, refused)
    elif conn.dialect.name == "sqlite":
        stats = _write_batched(conn, scope, unique_rows, refused)
    else:
        raise ConfigError(f"zoning store supports SQLite and PostgreSQL, not {conn.dialect.name}")
    if page is not None:
        _record_page(conn, scope, page)
    return stats


def commit_page(
    conn: sa.Connection, sync_id: int, page_key: str, page: ProcessedPage
) -> WriteStats:
    """Write a processed page and record it as committed (one transaction, the caller's)."""
    receipt = PageReceipt(page_key, page.received, page.duplicates, page.exceeded)
    return write_features(conn, sync_id, page.rows, page.rejected, page=receipt)


def _record_page(conn: sa.Connection, scope: _Scope, page: PageReceipt) -> None:
    values = {
        "sync_id": scope.sync_id,
        "page_key": page.key,
        "received": page.received,
        "duplicates": page.duplicates,
        "exceeded": page.exceeded,
    }
    conn.execute(_insert_ignore(conn, pages, ["sync_id", "page_key"]).values(values))


def _insert_ignore(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)


def committed_pages(conn: sa.Connection, sync_id: int) -> set[str]:
    """Keys of the pages already committed in sync ``sync_id``."""
    result = conn.execute(sa.select(pages.c.page_key).where(pages.c.sync_id == sync_id))
    return {row.page_key for row in result}


# --- SQLite: one batched read, then batched upserts ---


@dataclass(frozen=True, slots=True)
class _Current:
    version_id: int
    valid_from: int
    attrs_hash: str
    geom_hash: str


def _current_versions(conn: sa.Connection, scope: _Scope, keys: list[str]) -> dict[str, _Current]:
    found: dict[str, _Current] = {}
    columns = (features.c.feature_key, features.c.version_id, features.c.valid_from)
    query = sa.select(*columns, features.c.attrs_hash, features.c.geom_hash).where(
        features.c.jurisdiction == scope.jurisdiction,
        features.c.layer == scope.layer,
        features.c.valid_to.is_(None),
    )
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        for row in conn.execute(query.where(features.c.feature_key.in_(chunk))):
            found[row.feature_key] = _Current(row[1], row[2], row[3], row[4])
    return found


# Driver-level executemany: these run once per row of a page, and SQLAlchemy's
# per-row parameter processing would cost more than SQLite's own work.
_SQLITE_UPSERT = """
INSERT INTO zoning_features
    (jurisdiction, layer, feature_key, valid_from, attrs, attrs_hash, geom_wkb, geom_hash, h3)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (jurisdiction, layer, feature_key) WHERE valid_to IS NULL
DO UPDATE SET attrs = excluded.attrs, attrs_hash = excluded.attrs_hash,
    geom_wkb = excluded.geom_wkb, geom_hash = excluded.geom_hash, h3 = excluded.h3
WHERE zoning_features.valid_from = excluded.valid_from
"""
_SQLITE_CLOSE = "UPDATE zoning_features SET valid_to = ? WHERE version_id = ?"
_SQLITE_SIGHT = """
INSERT INTO zoning_sightings (sync_id, feature_key, rejected_code, rejected_message)
VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING
"""


def _write_batched(
    conn: sa.Connection, scope: _Scope, rows: list[FeatureRow], rejected: list[Rejection]
) -> WriteStats:
    plan = _plan(rows, _current_versions(conn, scope, [r.key for r in rows]), scope.sync_id)
    if plan.closing:
        conn.exec_driver_sql(_SQLITE_CLOSE, [(scope.sync_id, v) for v in plan.closing])
    if plan.fresh or plan.rewrite:
        head = (scope.jurisdiction, scope.layer)
        values = [
            (*head, r.key, scope.sync_id, r.attrs_json, r.attrs_hash, r.wkb, r.geom_hash, r.h3)
            for r in plan.fresh + plan.rewrite
        ]
        conn.exec_driver_sql(_SQLITE_UPSERT, values)
    seen: list[tuple[int, str | None, str | None, str | None]]
    seen = [(scope.sync_id, r.key, None, None) for r in rows]
    seen += [(scope.sync_id, r.key, r.code, r.message) for r in rejected]
    if seen:
        conn.exec_driver_sql(_SQLITE_SIGHT, seen)
    return WriteStats(*plan.stats, rejected=len(rejected))


# --- PostgreSQL: binary COPY into a staging table, then set-based merge ---
#
# The current versions of the page's keys are read first, one index probe per
# key whatever the statistics say, and only rows that must be written are
# flagged in the stage. A join of the stage against
# zoning_features would be planned from statistics that, during a first load,
# say the table is empty: PostgreSQL then picks a nested loop over every
# current row of the layer for every staged row.

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS zoning_stage (
    feature_key text NOT NULL,
    attrs text,
    attrs_hash text,
    geom_wkb bytea,
    geom_hash text,
    h3 text,
    rejected_code text,
    rejected_message text,
    needs_write boolean NOT NULL
) ON COMMIT DELETE ROWS
"""
_STAGE_COLUMNS = (
    "feature_key, attrs, attrs_hash, geom_wkb, geom_hash, h3, rejected_code, rejected_message,"
    " needs_write"
)
_STAGE_TYPES = ["text", "text", "text", "bytea", "text", "text", "text", "text", "bool"]

# LATERAL ... LIMIT 1 cannot be flattened into a join: one index probe per key,
# on all three columns of zoning_features_current. Both statements run on the
# driver cursor with ``prepare=False``: psycopg prepares a statement after five
# runs, and PostgreSQL would then keep a generic plan made while the table was
# still empty (a sequential scan per key) for the rest of a first load.
_CURRENT = """
SELECT c.feature_key, c.version_id, c.valid_from, c.attrs_hash, c.geom_hash
FROM unnest(%(keys)s::text[]) AS k(feature_key)
CROSS JOIN LATERAL (
    SELECT feature_key, version_id, valid_from, attrs_hash, geom_hash FROM zoning_features f
    WHERE f.jurisdiction = %(j)s AND f.layer = %(l)s AND f.valid_to IS NULL
      AND f.feature_key = k.feature_key
    LIMIT 1) AS c
"""

_CLOSE = "UPDATE zoning_features SET valid_to = %(sync)s WHERE version_id = ANY(%(ids)s)"

_MERGE = sa.text("""
INSERT INTO zoning_features
    (jurisdiction, layer, feature_key, valid_from, attrs, attrs_hash, geom_wkb, geom_hash, h3)
SELECT :j, :l, feature_key, :sync, attrs, attrs_hash, geom_wkb, geom_hash, h3
FROM zoning_stage WHERE needs_write
ON CONFLICT (jurisdiction, layer, feature_key) WHERE valid_to IS NULL
DO UPDATE SET attrs = EXCLUDED.attrs, attrs_hash = EXCLUDED.attrs_hash,
    geom_wkb = EXCLUDED.geom_wkb, geom_hash = EXCLUDED.geom_hash, h3 = EXCLUDED.h3
WHERE zoning_features.valid_from = EXCLUDED.valid_from
""")

_SIGHT = sa.text("""
INSERT INTO zoning_sightings (sync_id, feature_key, rejected_code, rejected_message)
SELECT :sync, feature_key, rejected_code, rejected_message FROM zoning_stage
ON CONFLICT DO NOTHING
""")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a page's rows need: new versions, versions to close, rewrites in place."""

    fresh: list[FeatureRow]
    closing: list[int]
    rewrite: list[FeatureRow]
    unchanged: list[FeatureRow]

    @property
    def stats(self) -> tuple[int, int, int, int]:
        inserted = len(self.fresh) - len(self.closing)
        return inserted, len(self.closing), len(self.rewrite), len(self.unchanged)


def _plan(rows: list[FeatureRow], current: dict[str, _Current], sync_id: int) -> _Plan:
    plan = _Plan([], [], [], [])
    for row in rows:
        now = current.get(row.key)
        if now is not None and (now.attrs_hash, now.geom_hash) == (row.attrs_hash, row.geom_hash):
            plan.unchanged.append(row)
        elif now is None:
            plan.fresh.append(row)
        elif now.valid_from < sync_id:
            plan.closing.append(now.version_id)
            plan.fresh.append(row)
        else:
            plan.rewrite.append(row)
    return plan


def _driver(conn: sa.Connection) -> Any:
    """The psycopg connection under ``conn`` (same session, same transaction)."""
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has one
        raise ConfigError("PostgreSQL connection has no driver connection")
    return driver


def _unprepared(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    with _driver(conn).cursor() as cursor:
        cursor.execute(sql, params, prepare=False)
        return cursor.fetchall() if cursor.description else []


def _current_pg(conn: sa.Connection, scope: _Scope, keys: list[str]) -> dict[str, _Current]:
    params = {"j": scope.jurisdiction, "l": scope.layer, "keys": keys}
    return {r[0]: _Current(r[1], r[2], r[3], r[4]) for r in _unprepared(conn, _CURRENT, params)}


def _stage(conn: sa.Connection, plan: _Plan, rejected: list[Rejection]) -> None:
    conn.exec_driver_sql(_STAGE_DDL)
    conn.exec_driver_sql("DELETE FROM zoning_stage")
    driver = _driver(conn)
    copy_sql = f"COPY zoning_stage ({_STAGE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        copy.set_types(_STAGE_TYPES)
        for row in plan.fresh + plan.rewrite:
            values = (row.key, row.attrs_json, row.attrs_hash, row.wkb, row.geom_hash, row.h3)
            copy.write_row((*values, None, None, True))
        for row in plan.unchanged:  # staged only to be sighted
            copy.write_row((row.key, None, None, None, None, None, None, None, False))
        for refused in rejected:
            copy.write_row(
                (refused.key, None, None, None, None, None, refused.code, refused.message, False)
            )


def _write_copy(
    conn: sa.Connection, scope: _Scope, rows: list[FeatureRow], rejected: list[Rejection]
) -> WriteStats:
    if not rows and not rejected:
        return WriteStats()
    plan = _plan(rows, _current_pg(conn, scope, [r.key for r in rows]), scope.sync_id)
    _stage(conn, plan, rejected)
    params = {"sync": scope.sync_id, "j": scope.jurisdiction, "l": scope.layer}
    if plan.closing:
        _unprepared(conn, _CLOSE, {"sync": scope.sync_id, "ids": plan.closing})
    if plan.fresh or plan.rewrite:
        conn.execute(_MERGE, params)
    conn.execute(_SIGHT, params)
    return WriteStats(*plan.stats, rejected=len(rejected))


# --- finishing a sync ---


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """How a sync ended.

    Attributes:
        sync_id: the sync.
        expected: the server's count at planning time.
        received: features the committed pages held (duplicates included).
        seen: distinct keys stored or kept.
        rejected: distinct keys rejected, with their reasons in ``rejections``.
        count_mismatch: ``received - expected`` when they differ, else ``None``.
        removed: current versions closed because the sync did not see their key.
        removals_applied: false when the sync saw fewer features than expected,
            or the server said more exist than it counted: unseen features are
            then kept rather than reported removed.
        exceeded_last_page: the server said more features exist than were planned.
    """

    sync_id: int
    expected: int | None
    received: int
    seen: int
    rejected: int
    count_mismatch: int | None
    removed: int
    removals_applied: bool
    exceeded_last_page: bool = False
    rejections: list[Rejection] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per thing a user must know (never hidden, never fatal)."""
        lines = []
        if self.count_mismatch is not None:
            lines.append(
                f"count mismatch: server counted {self.expected}, sync received "
                f"{self.received} ({self.count_mismatch:+d})"
                + ("" if self.removals_applied else "; removals not applied")
            )
        if self.exceeded_last_page:
            lines.append("server reported more features than it counted (exceededTransferLimit)")
        lines += [f"rejected {r.key}: {r.code}: {r.message}" for r in self.rejections]
        return lines


_CLOSE_UNSEEN = sa.text("""
UPDATE zoning_features SET valid_to = :sync
WHERE jurisdiction = :j AND layer = :l AND valid_to IS NULL AND valid_from < :sync
  AND NOT EXISTS (
    SELECT 1 FROM zoning_sightings AS s
    WHERE s.sync_id = :sync AND s.feature_key = zoning_features.feature_key)
""")


def _sighting_counts(conn: sa.Connection, sync_id: int) -> tuple[int, list[Rejection]]:
    query = sa.select(
        sightings.c.feature_key, sightings.c.rejected_code, sightings.c.rejected_message
    ).where(sightings.c.sync_id == sync_id, sightings.c.rejected_code.is_not(None))
    refused = [Rejection(r[0], -1, r[1], r[2] or "") for r in conn.execute(query)]
    total = conn.execute(
        sa.select(sa.func.count()).select_from(sightings).where(sightings.c.sync_id == sync_id)
    ).scalar_one()
    return int(total) - len(refused), refused


def _page_counts(conn: sa.Connection, sync_id: int) -> tuple[int | None, bool]:
    query = sa.select(
        sa.func.count(),
        sa.func.sum(pages.c.received),
        sa.func.max(sa.cast(pages.c.exceeded, sa.Integer)),
    ).where(pages.c.sync_id == sync_id)
    count, received, exceeded = conn.execute(query).one()
    return (int(received) if count else None), bool(exceeded)


def finish_sync(
    conn: sa.Connection, sync_id: int, *, close_missing: bool | None = None
) -> SyncSummary:
    """Close a sync: check its count, and close the versions of keys it did not see.

    Args:
        conn: a connection inside an open transaction.
        sync_id: the open sync.
        close_missing: apply removals; by default only when the sync received at
            least the server's count and the last page did not say more features
            exist (a short sync more likely lost pages than features, and must
            not report them removed).
    """
    scope = _scope(conn, sync_id)
    if conn.dialect.name == "postgresql":
        # Fresh statistics for the removal query below and for the next sync's plans.
        conn.exec_driver_sql("ANALYZE zoning_features, zoning_sightings")
    expected = get_sync(conn, sync_id).expected_count
    seen, refused = _sighting_counts(conn, sync_id)
    page_received, exceeded = _page_counts(conn, sync_id)
    received = page_received if page_received is not None else seen + len(refused)
    mismatch = None if expected is None or received == expected else received - expected
    complete = (mismatch is None or mismatch > 0) and not exceeded
    apply = close_missing if close_missing is not None else complete
    params = {"sync": sync_id, "j": scope.jurisdiction, "l": scope.layer}
    removed = conn.execute(_CLOSE_UNSEEN, params).rowcount if apply else 0
    summary = SyncSummary(
        sync_id, expected, received, seen, len(refused), mismatch, removed, apply, exceeded, refused
    )
    _mark_finished(conn, summary)
    return summary


def _mark_finished(conn: sa.Connection, summary: SyncSummary) -> None:
    note = "; ".join(summary.problems()[:20]) or None
    conn.execute(
        syncs.update()
        .where(syncs.c.sync_id == summary.sync_id)
        .values(
            status="finished",
            finished_at=_now(),
            received_count=summary.received,
            seen_count=summary.seen,
            rejected_count=summary.rejected,
            count_mismatch=summary.count_mismatch,
            removed_count=summary.removed,
            removals_applied=summary.removals_applied,
            note=note,
        )
    )
    # Accepted sightings have served their purpose; rejections stay as a record.
    conn.execute(
        sightings.delete().where(
            sightings.c.sync_id == summary.sync_id, sightings.c.rejected_code.is_(None)
        )
    )


# --- reads: syncs, change report, export ---


def list_syncs(
    conn: sa.Connection,
    jurisdiction: str | None = None,
    layer: str | None = None,
    *,
    finished_only: bool = True,
) -> list[SyncInfo]:
    """Syncs, oldest first, optionally of one jurisdiction or layer."""
    query = sa.select(syncs).order_by(syncs.c.sync_id)
    if jurisdiction is not None:
        query = query.where(syncs.c.jurisdiction == jurisdiction)
    if layer is not None:
        query = query.where(syncs.c.layer == layer)
    if finished_only:
        query = query.where(syncs.c.status == "finished")
    return [_sync_info(row) for row in conn.execute(query)]


def sync_pair(
    conn: sa.Connection, jurisdiction: str, layer: str, since: int | None = None
) -> tuple[SyncInfo, SyncInfo] | None:
    """The two syncs a change report compares: ``since`` (or the one before last) and the last.

    Returns ``None`` when the layer has fewer than two finished syncs.
    """
    finished = list_syncs(conn, jurisdiction, layer)
    if since is not None:
        old = next((s for s in finished if s.sync_id == since), None)
        if old is None:
            raise ConfigError(f"sync {since} is not a finished sync of {jurisdiction} / {layer}")
        return (old, finished[-1]) if old is not finished[-1] else (old, old)
    return (finished[-2], finished[-1]) if len(finished) >= 2 else None


def _states(conn: sa.Connection, query: sa.Select[Any]) -> dict[str, FeatureState]:
    return {
        row.feature_key: FeatureState(
            row.feature_key, json.loads(row.attrs), bytes(row.geom_wkb), row.geom_hash
        )
        for row in conn.execute(query)
    }


def changed_states(
    conn: sa.Connection, jurisdiction: str, layer: str, old: int, new: int
) -> tuple[dict[str, FeatureState], dict[str, FeatureState]]:
    """The versions that differ between syncs ``old`` and ``new`` (``old < new``).

    Returns:
        ``(before, after)``: versions valid at ``old`` and gone by ``new``, and
        versions valid at ``new`` that were not yet at ``old``. A key in
        neither had no version change, so only these need comparing.
    """
    columns = (features.c.feature_key, features.c.attrs, features.c.geom_wkb, features.c.geom_hash)
    scope = (features.c.jurisdiction == jurisdiction) & (features.c.layer == layer)
    before = sa.select(*columns).where(
        scope,
        features.c.valid_from <= old,
        features.c.valid_to > old,
        features.c.valid_to <= new,
    )
    after = sa.select(*columns).where(
        scope,
        features.c.valid_from > old,
        features.c.valid_from <= new,
        sa.or_(features.c.valid_to.is_(None), features.c.valid_to > new),
    )
    return _states(conn, before), _states(conn, after)


@dataclass(frozen=True, slots=True)
class StoredFeature:
    """A current feature for export.

    Attributes:
        sync_id: the sync that wrote this version of the feature.
    """

    jurisdiction: str
    layer: str
    key: str
    attrs: Mapping[str, Any]
    wkb: bytes
    h3: str
    sync_id: int


def iter_current(
    conn: sa.Connection, jurisdiction: str | None = None, layer: str | None = None
) -> Iterator[StoredFeature]:
    """Every current feature, streamed in key order per layer."""
    query = (
        sa.select(features)
        .where(features.c.valid_to.is_(None))
        .order_by(features.c.jurisdiction, features.c.layer, features.c.feature_key)
    )
    if jurisdiction is not None:
        query = query.where(features.c.jurisdiction == jurisdiction)
    if layer is not None:
        query = query.where(features.c.layer == layer)
    for row in conn.execution_options(yield_per=1000).execute(query):
        yield StoredFeature(
            row.jurisdiction,
            row.layer,
            row.feature_key,
            json.loads(row.attrs),
            bytes(row.geom_wkb),
            row.h3,
            row.valid_from,
        )

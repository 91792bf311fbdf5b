"""PostgreSQL: the production ledger, shared by many workers.

Claims use ``FOR UPDATE SKIP LOCKED`` so that workers never wait on each other's
jobs and never take the same one; schema creation is serialised with an
advisory lock so that workers starting together do not race.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select

from parcelflow.errors import ConfigError
from parcelflow.stores.sql import SqlStore

__all__ = ["PostgresStore"]

_SCHEMA_LOCK_ID = 0x70617263  # "parc": an arbitrary, fixed advisory-lock id


def _driver_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class PostgresStore(SqlStore):
    """The storage contract on a PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        engine = create_engine(
            _driver_url(url),
            pool_size=pool_size,
            pool_pre_ping=True,  # a dropped connection is replaced, not handed out
            # psycopg prepares repeated statements, and PostgreSQL may then keep a
            # generic plan made while pf_jobs was empty (a scan of every job of the
            # pipeline per key lookup). Custom plans keep key lookups on the index.
            connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
        )
        try:
            super().__init__(url, engine, engine)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"cannot connect to {url}: {reason}") from exc

    def lock(self, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        return query.with_for_update(skip_locked=skip_locked)

    def upsert(self, table: Table, keys: list[str], values: list[str], *, changed: str) -> Any:
        stmt = pg_insert(table)
        return stmt.on_conflict_do_update(
            index_elements=keys,
            set_={name: stmt.excluded[name] for name in values},
            where=table.c[changed] != stmt.excluded[changed],
        )

    def _schema_lock(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})

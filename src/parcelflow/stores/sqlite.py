"""SQLite: the embedded default, one file, no server.

Write transactions start with ``BEGIN IMMEDIATE`` so that two processes on one
file queue for the write lock instead of failing on a lock upgrade; reads use
WAL snapshots and never wait for a writer. ``synchronous=NORMAL`` in WAL mode
survives a killed process (what the crash guarantees are about); only a power
loss can drop the last transactions, and it drops them whole.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from parcelflow.errors import ConfigError
from parcelflow.stores.sql import SqlStore

__all__ = ["SqliteStore"]

_BUSY_TIMEOUT_MS = 60_000


def _configure(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
        # transaction handling would defer it and break BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class SqliteStore(SqlStore):
    """The storage contract on a SQLite file."""

    def __init__(self, url: str) -> None:
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(f"cannot open {url}: folder {parent} does not exist")
        write = create_engine(url, pool_size=1, max_overflow=0)
        read = create_engine(url)
        _configure(write, immediate=True)
        _configure(read, immediate=False)
        try:
            super().__init__(url, write, read)
        except Exception as exc:
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                raise ConfigError(f"cannot open {url}: {exc.orig}") from exc
            raise

    def upsert(self, table: Table, keys: list[str], values: list[str], *, changed: str) -> Any:
        stmt = sqlite_insert(table)
        return stmt.on_conflict_do_update(
            index_elements=keys,
            set_={name: stmt.excluded[name] for name in values},
            where=table.c[changed] != stmt.excluded[changed],
        )

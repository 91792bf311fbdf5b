"""Stores: where the ledger keeps jobs, records and the audit log."""

from __future__ import annotations

from parcelflow.errors import ConfigError
from parcelflow.stores.base import RecordRow, Store, SubmissionRow, Tx
from parcelflow.stores.memory import MemoryStore

__all__ = ["MemoryStore", "RecordRow", "Store", "SubmissionRow", "Tx", "open_store"]


def open_store(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///file``, ``postgresql://...`` or ``memory://``.

    Raises:
        ConfigError: the URL names no supported store, or it cannot be opened.
    """
    if url.startswith("sqlite:"):
        from parcelflow.stores.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        from parcelflow.stores.postgres import PostgresStore

        return PostgresStore(url)
    if url == "memory://":
        return MemoryStore()
    raise ConfigError(
        f"unsupported database URL {url!r}: use sqlite:///FILE, postgresql://... or memory://"
    )

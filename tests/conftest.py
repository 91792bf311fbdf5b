"""Shared fixtures: real data location and a fresh PostgreSQL database per test.

PostgreSQL tests use ``PARCELFLOW_TEST_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``): each test gets a new
database created there and dropped afterwards. Without a server they are
skipped, unless ``PARCELFLOW_REQUIRE_PG=1`` (set by ``.ci/run``) makes that an
error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PG_ADMIN_URL = os.environ.get(
    "PARCELFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data set beside the repository (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}: check out shared/ beside the repo")
    return SHARED_DATA


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("PARCELFLOW_REQUIRE_PG") == "1":
            raise
        pytest.skip(
            f"no PostgreSQL at {PG_ADMIN_URL} ({str(exc).strip()[:80]}); set PARCELFLOW_TEST_PG_URL"
        )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

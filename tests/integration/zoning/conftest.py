"""Fixtures for zoning integration tests: real data, a loopback ArcGIS server, databases.

Data lives next to the repository (``<repo>/../shared/data/zoning``) and is never
copied into it; tests that need it are skipped with a clear message without it.
PostgreSQL tests get a fresh database each from the shared ``pg_url`` fixture
(``PARCELFLOW_TEST_PG_URL``), skipped when the server cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from zoning_helpers import SNAPSHOTS

from parcelflow.testing import ArcGISServer


@pytest.fixture(scope="session")
def zoning_data(shared_data: Path) -> Path:
    """The shared zoning data folder."""
    if not (shared_data / "zoning" / "san_jose").is_dir():
        pytest.skip(f"zoning test data not found under {shared_data}")
    return shared_data / "zoning"


@pytest.fixture(scope="session")
def snapshots(zoning_data: Path) -> dict[str, dict[str, Any]]:
    """The three San Jose snapshots, parsed once."""
    return {
        year: json.loads((zoning_data / "san_jose" / name).read_text())
        for year, name in SNAPSHOTS.items()
    }


@pytest.fixture
def server(snapshots: dict[str, dict[str, Any]]) -> Iterator[ArcGISServer]:
    """A loopback layer serving the 2014 snapshot, 200 features a page."""
    with ArcGISServer(snapshots["2014"], max_record_count=200) as srv:
        yield srv


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite file database in the test's temporary folder."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'zoning.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    """A fresh PostgreSQL database (the shared ``pg_url`` fixture), through SQLAlchemy."""
    url = sa.make_url(pg_url).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    """Each backend in turn."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    result: sa.Engine = request.getfixturevalue(name)
    return result

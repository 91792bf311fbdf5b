"""Faults served by a real loopback server are survived, with attempts counted.

Each test injects faults into the server and asserts both what the server saw
(requests and faults served) and what the client recorded (attempts, retries,
backoff decided). No test measures elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from zoning_helpers import fast_http

from parcelflow.errors import TransientError
from parcelflow.pipelines.zoning import store
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.sync import run_sync
from parcelflow.sources import arcgis
from parcelflow.sources.http import HttpClient
from parcelflow.testing import ArcGISServer, Fault

OPTIONS = ZoningOptions(key_field="ZONING_ID", jurisdiction="san-jose")
PAGE = 50


@pytest.fixture(scope="module")
def small(snapshots: dict[str, Any]) -> dict[str, Any]:
    """The first 300 features of the 2016 snapshot: six pages of fifty."""
    return {"type": "FeatureCollection", "features": snapshots["2016"]["features"][:300]}


@pytest.fixture
def layer(small: dict[str, Any]) -> Iterator[ArcGISServer]:
    with ArcGISServer(small, max_record_count=PAGE) as srv:
        yield srv


def _pages(server: ArcGISServer) -> int:
    return -(-server.feature_count // PAGE)


async def test_transient_faults_are_retried_and_the_sync_completes(
    layer: ArcGISServer, sqlite_engine: sa.Engine
) -> None:
    layer.inject(
        Fault("503", offset=0, times=2),
        Fault("error200", offset=50),
        Fault("html", offset=100),
        Fault("reset", offset=150),
        Fault("503", on="count"),
    )
    result = await run_sync(layer.layer_url, sqlite_engine, OPTIONS, http=fast_http())
    assert result.failures == []
    assert result.summary is not None and result.summary.count_mismatch is None
    assert result.summary.received == 300
    served = {kind: layer.count(fault=kind) for kind in ("503", "error200", "html", "reset")}
    assert served == {"503": 3, "error200": 1, "html": 1, "reset": 1}
    assert layer.count("page") == _pages(layer) + 5
    assert layer.count("count") == 2
    [host] = result.hosts.values()
    assert host.retries == 6
    assert host.failures == {
        "http_503": 3,
        "error_in_200": 1,
        "html_body": 1,
        "connection_reset": 1,
    }


async def test_429_retry_after_is_honoured(layer: ArcGISServer, sqlite_engine: sa.Engine) -> None:
    layer.inject(Fault("429", offset=100, retry_after=1))
    result = await run_sync(layer.layer_url, sqlite_engine, OPTIONS, http=fast_http())
    assert result.failures == []
    assert layer.count("page", fault="429") == 1
    assert layer.count("page") == _pages(layer) + 1
    [host] = result.hosts.values()
    # The jittered backoff alone is at most 0.05 s here; the wait decided is the server's.
    assert host.retries == 1 and host.waited >= 1.0


async def test_a_slow_page_times_out_and_is_fetched_again(
    layer: ArcGISServer, sqlite_engine: sa.Engine
) -> None:
    layer.inject(Fault("slow", offset=200, delay=3.0))
    http = fast_http(timeout=1.0)
    result = await run_sync(layer.layer_url, sqlite_engine, OPTIONS, http=http)
    assert result.failures == []
    assert layer.count("page", fault="slow") == 1
    [host] = result.hosts.values()
    assert host.failures == {"timeout": 1}


async def test_a_killed_sync_resumes_fetching_only_uncommitted_pages(
    layer: ArcGISServer, sqlite_engine: sa.Engine
) -> None:
    # Page 3 keeps failing past the client's four attempts: the run ends with
    # the sync open and five pages committed, as if it had been killed.
    layer.inject(Fault("503", offset=100, times=4))
    first = await run_sync(layer.layer_url, sqlite_engine, OPTIONS, http=fast_http())
    assert [(f.page, f.code, f.transient) for f in first.failures] == [(2, "http_503", True)]
    assert first.summary is None
    with sqlite_engine.connect() as conn:
        assert len(store.committed_pages(conn, first.sync_id)) == _pages(layer) - 1

    layer.clear()
    second = await run_sync(layer.layer_url, sqlite_engine, OPTIONS, http=fast_http())
    assert second.resumed and second.sync_id == first.sync_id
    assert second.fetched_pages == 1
    assert layer.count("page") == 1
    assert second.summary is not None
    assert (second.summary.received, second.summary.count_mismatch) == (300, None)


async def test_the_breaker_stops_hammering_a_down_host(layer: ArcGISServer) -> None:
    layer.inject(Fault("503", on="count", times=100))
    http = fast_http(breaker_threshold=5, breaker_cooldown=60.0)
    request = arcgis.count_request(layer.layer_url)
    async with HttpClient(http) as client:
        with pytest.raises(TransientError) as exhausted:
            await client.json(request)
        assert exhausted.value.code == "http_503"
        with pytest.raises(TransientError) as opened:
            await client.json(request)
        assert opened.value.code == "circuit_open"
        assert opened.value.retry_after is not None and opened.value.retry_after > 50
        with pytest.raises(TransientError, match="looks down"):
            await client.json(request)
        [stats] = client.report().values()
    # Four attempts, then one more that opened the circuit; nothing after that.
    assert layer.count("count") == 5
    assert stats.attempts == 5
    assert stats.refused_by_breaker == 2
    assert stats.breaker.startswith("circuit open")


async def test_a_long_retry_after_is_left_to_the_ledger(layer: ArcGISServer) -> None:
    layer.inject(Fault("429", on="metadata", retry_after=3600))
    async with HttpClient(fast_http(max_retry_after=60.0)) as client:
        with pytest.raises(TransientError) as caught:
            await client.json(arcgis.metadata_request(layer.layer_url))
    assert caught.value.code == "http_429"
    assert caught.value.retry_after is not None and caught.value.retry_after >= 3600
    assert layer.count("metadata") == 1


async def test_a_count_that_disagrees_is_reported_and_removals_are_held_back(
    small: dict[str, Any], sqlite_engine: sa.Engine
) -> None:
    options = OPTIONS.model_copy(update={"layer_name": "z"})
    with ArcGISServer(small, max_record_count=PAGE) as honest:
        await run_sync(honest.layer_url, sqlite_engine, options, http=fast_http())
    fewer = {"type": "FeatureCollection", "features": small["features"][:-10]}
    # Counts five more than it holds (Kent County's count disagrees with its ids too).
    with ArcGISServer(fewer, max_record_count=PAGE, count_bias=5) as liar:
        result = await run_sync(liar.layer_url, sqlite_engine, options, http=fast_http())
    summary = result.summary
    assert summary is not None
    assert (summary.expected, summary.received, summary.count_mismatch) == (295, 290, -5)
    assert not summary.removals_applied and summary.removed == 0
    assert any("count mismatch" in line for line in summary.problems())
    with sqlite_engine.connect() as conn:
        [sync] = [s for s in store.list_syncs(conn) if s.sync_id == result.sync_id]
        note = conn.execute(
            sa.select(store.syncs.c.note).where(store.syncs.c.sync_id == sync.sync_id)
        ).scalar_one()
    assert "count mismatch" in note


async def test_a_count_too_low_shows_as_more_features_than_counted(
    small: dict[str, Any], sqlite_engine: sa.Engine
) -> None:
    with ArcGISServer(small, max_record_count=PAGE, count_bias=-5) as liar:
        result = await run_sync(liar.layer_url, sqlite_engine, OPTIONS, http=fast_http())
    summary = result.summary
    assert summary is not None
    assert summary.exceeded_last_page and not summary.removals_applied
    assert any("more features than it counted" in line for line in summary.problems())

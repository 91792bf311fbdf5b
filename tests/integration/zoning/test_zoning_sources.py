"""Server quirks and bad feeds, through the real client against the loopback server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from zoning_helpers import fast_http

from parcelflow.errors import ConfigError, PermanentError
from parcelflow.pipelines.zoning import store
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.records import process_page, process_page_body, to_raw_page
from parcelflow.pipelines.zoning.report import change_report
from parcelflow.pipelines.zoning.source import fetch_page_body, plan_source, plan_source_blocking
from parcelflow.pipelines.zoning.sync import run_sync
from parcelflow.sources.http import HttpClient
from parcelflow.testing import ArcGISServer

OPTIONS = ZoningOptions(key_field="ZONING_ID", jurisdiction="san-jose")


@pytest.fixture(scope="module")
def small(snapshots: dict[str, Any]) -> dict[str, Any]:
    """The first 240 features of the 2016 snapshot."""
    return {"type": "FeatureCollection", "features": snapshots["2016"]["features"][:240]}


@pytest.fixture
def layer(small: dict[str, Any]) -> Iterator[ArcGISServer]:
    with ArcGISServer(small, max_record_count=100) as srv:
        yield srv


def _current(engine: sa.Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        return {
            f.key: (f.h3, json.dumps(f.attrs, sort_keys=True)) for f in store.iter_current(conn)
        }


async def test_an_old_server_is_read_by_posted_object_id_chunks(
    small: dict[str, Any], sqlite_engine: sa.Engine
) -> None:
    with ArcGISServer(small, max_record_count=100, legacy=True) as srv:
        result = await run_sync(srv.layer_url, sqlite_engine, OPTIONS, http=fast_http())
        posts = [r for r in srv.requests if r.kind == "page"]
    assert result.plan.strategy == "ids"
    assert result.summary is not None and result.summary.received == 240
    assert [r.method for r in posts] == ["POST"] * 3
    assert all("resultOffset" not in r.params for r in posts)


async def test_a_server_capping_pages_below_its_word_is_asked_for_the_rest(
    small: dict[str, Any], sqlite_engine: sa.Engine
) -> None:
    with ArcGISServer(small, max_record_count=100, served_max=60) as srv:
        result = await run_sync(srv.layer_url, sqlite_engine, OPTIONS, http=fast_http())
        pages = srv.count("page")
    assert result.summary is not None
    assert (result.summary.received, result.summary.count_mismatch) == (240, None)
    assert pages == 5  # 100 → 60 + 40, 100 → 60 + 40, 40


async def test_answers_in_the_native_crs_are_reprojected_by_the_client(
    small: dict[str, Any], sqlite_engine: sa.Engine
) -> None:
    options = OPTIONS.model_copy(update={"layer_name": "zoning", "reshape_tolerance_m": 0.05})
    with ArcGISServer(small, max_record_count=100) as honest:
        await run_sync(honest.layer_url, sqlite_engine, options, http=fast_http())
    # This one ignores outSR and names its CRS only in WKT (as Kent County, MI does).
    with ArcGISServer(small, honour_out_sr=False, wkt_spatial_reference=True) as quirky:
        result = await run_sync(quirky.layer_url, sqlite_engine, options, http=fast_http())
    assert result.failures == [] and result.summary is not None
    with sqlite_engine.connect() as conn:
        [report] = change_report(conn, options)
    assert report.changes == []  # same features, same places (within 5 cm)


async def test_a_geojson_url_and_a_geojson_file_sync_the_same_features(
    layer: ArcGISServer, small: dict[str, Any], tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    from_url = await run_sync(layer.geojson_url, sqlite_engine, OPTIONS, http=fast_http())
    by_url = _current(sqlite_engine)
    path = tmp_path / "zoning.geojson"
    path.write_text(json.dumps(small))
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    from_file = await run_sync(str(path), other, OPTIONS, http=fast_http())
    assert from_url.summary is not None and from_file.summary is not None
    assert from_url.summary.received == from_file.summary.received == 240
    assert _current(other) == by_url
    other.dispose()


async def test_bad_features_are_rejected_with_reasons_and_the_rest_syncs(
    small: dict[str, Any], tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    features = json.loads(json.dumps(small["features"]))
    features[3]["geometry"] = None
    features[7]["geometry"]["coordinates"][0] = features[7]["geometry"]["coordinates"][0][:3]
    features[9]["properties"]["ZONING_ID"] = None
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = await run_sync(str(path), sqlite_engine, OPTIONS, http=fast_http())
    assert result.summary is not None
    assert result.summary.seen == 237
    assert sorted((r.key, r.code) for r in result.summary.rejections) == sorted(
        [
            (str(features[3]["properties"]["ZONING_ID"]), "no_geometry"),
            (str(features[7]["properties"]["ZONING_ID"]), "broken_ring"),
        ]
    )
    assert result.written["rejected"] == 2  # the keyless one cannot even be recorded
    assert len(_current(sqlite_engine)) == 237


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "invalid_json"),
        ('{"type": "Topology"}', "invalid_geojson"),
        ("[]", "invalid_geojson"),
    ],
)
async def test_invalid_geojson_ends_with_a_one_line_reason(
    tmp_path: Path, sqlite_engine: sa.Engine, text: str, code: str
) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text(text)
    with pytest.raises(PermanentError) as caught:
        await run_sync(str(path), sqlite_engine, OPTIONS, http=fast_http())
    assert caught.value.code == code
    assert "\n" not in str(caught.value)


async def test_not_a_layer(layer: ArcGISServer) -> None:
    async with HttpClient(fast_http()) as client:
        with pytest.raises(ConfigError, match="append the layer number"):
            await plan_source(client, layer.service_url, OPTIONS)
        with pytest.raises(PermanentError) as caught:
            await plan_source(client, layer.service_url + "/7", OPTIONS)
        with pytest.raises(ConfigError, match="not a field"):
            await plan_source(
                client, layer.layer_url, OPTIONS.model_copy(update={"key_field": "NOPE"})
            )
    assert caught.value.code == "not_a_layer"
    assert layer.count("other") == 1  # a permanent error is not retried


async def test_an_unreachable_host_ends_with_a_one_line_reason() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/arcgis/rest/services/Zoning/FeatureServer/0"
    async with HttpClient(fast_http()) as client:
        with pytest.raises(PermanentError) as caught:
            await plan_source(client, url, OPTIONS)
        [stats] = client.report().values()
    assert caught.value.code == "host_unreachable"
    assert "gave up after 4 attempts" in caught.value.message
    assert stats.attempts == 4


async def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    async with HttpClient(fast_http()) as client:
        with pytest.raises(ConfigError, match="no such file"):
            await plan_source(client, str(tmp_path / "nope.geojson"), OPTIONS)


async def test_pages_read_as_arrays_match_plain_parsing_on_the_whole_layer(
    snapshots: dict[str, Any],
) -> None:
    # Both CRSs a server may answer in: reprojected to 4326, and native feet.
    for honour in (True, False):
        with ArcGISServer(snapshots["2016"], max_record_count=400, honour_out_sr=honour) as srv:
            async with HttpClient(fast_http()) as client:
                plan = await plan_source(client, srv.layer_url, OPTIONS)
                bodies = [await fetch_page_body(client, page) for page in plan.pages]
        for body in bodies:
            fast = process_page_body(body)
            assert fast == process_page(to_raw_page(body))
            assert fast.rejected == [] and len(fast.rows) == fast.received


async def test_planning_works_for_synchronous_callers_even_inside_a_loop(
    layer: ArcGISServer,
) -> None:
    plan = plan_source_blocking(layer.layer_url, OPTIONS, http=fast_http())
    assert (plan.strategy, plan.expected_count, len(plan.pages)) == ("offset", 240, 3)

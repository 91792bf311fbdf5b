"""Two real snapshots synced through the loopback server into SQLite and PostgreSQL.

The change report is checked against the maintainers' oracle
(``expected_changes_2014-07-23_to_2016-03-24.json``); what the oracle cannot say
(which removal/addition pairs are one feature with a new key) is checked
independently against the source files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyproj
import pytest
import shapely
import sqlalchemy as sa
from zoning_helpers import fast_http, load_oracle

from parcelflow.errors import ConfigError
from parcelflow.pipelines.zoning import store
from parcelflow.pipelines.zoning.diff import Change
from parcelflow.pipelines.zoning.export import export_features
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.report import LayerChanges, change_report, write_report
from parcelflow.pipelines.zoning.sync import SyncResult, run_sync
from parcelflow.testing import ArcGISServer

OPTIONS = ZoningOptions(
    key_field="ZONING_ID", jurisdiction="san-jose", normalize=("ZONE_FILE=file_number",)
)
FEET = 0.3048006096  # US survey foot, EPSG:2227's unit


async def _sync(server: ArcGISServer, engine: sa.Engine) -> SyncResult:
    result = await run_sync(server.layer_url, engine, OPTIONS, http=fast_http())
    assert result.failures == []
    assert result.summary is not None
    return result


def _keys(changes: list[Change], kind: str) -> set[int]:
    return {int(c.key) for c in changes if c.kind == kind}


def _by_id(snapshot: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {f["properties"]["ZONING_ID"]: f for f in snapshot["features"]}


def _metres_apart(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Hausdorff distance measured another way: in EPSG:2227 feet, converted to metres."""
    to_feet = pyproj.Transformer.from_crs(4326, 2227, always_xy=True)

    def project(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.column_stack(to_feet.transform(coords[:, 0], coords[:, 1]))

    shapes = [shapely.from_geojson(json.dumps(f["geometry"])) for f in (a, b)]
    return (
        float(shapely.hausdorff_distance(*[shapely.transform(s, project) for s in shapes])) * FEET
    )


def _check_against_oracle(
    report: LayerChanges, oracle: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> None:
    changes = report.changes
    attribute_changes = {a["ZONING_ID"]: a["changed_fields"] for a in oracle["attributes_changed"]}
    assert _keys(changes, "rezoned") | _keys(changes, "attributes_changed") == set(
        attribute_changes
    )
    assert _keys(changes, "rezoned") == {k for k, f in attribute_changes.items() if "ZONING" in f}
    for change in changes:
        if change.kind in {"rezoned", "attributes_changed"}:
            expected = attribute_changes[int(change.key)]
            assert {k: list(v) for k, v in change.fields.items()} == expected
    assert _keys(changes, "reshaped") == set(oracle["geometry_changed"])

    pairs = {(int(c.key), int(c.new_key or 0)) for c in changes if c.kind == "id_changed"}
    assert _keys(changes, "added") | {n for _, n in pairs} == {
        a["ZONING_ID"] for a in oracle["added"]
    }
    assert _keys(changes, "removed") | {o for o, _ in pairs} == {
        r["ZONING_ID"] for r in oracle["removed"]
    }
    before, after = _by_id(old), _by_id(new)
    for o, n in pairs:
        same = {k: v for k, v in before[o]["properties"].items() if k != "ZONING_ID"}
        assert same == {k: v for k, v in after[n]["properties"].items() if k != "ZONING_ID"}
        assert _metres_apart(before[o], after[n]) <= OPTIONS.reshape_tolerance_m + 1e-3
    added = {a["ZONING_ID"]: a["new"] for a in oracle["added"]}
    for change in changes:
        if change.kind == "added":
            assert change.after == added[int(change.key)]


def _row_versions(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT version_id, xmin::text FROM zoning_features ORDER BY version_id"
        else:
            query = (
                "SELECT version_id, valid_from, valid_to FROM zoning_features ORDER BY version_id"
            )
        return [tuple(r) for r in conn.execute(sa.text(query))]


async def test_sync_2014_then_2016_reports_the_oracle_changes(
    server: ArcGISServer, engine: sa.Engine, snapshots: dict[str, Any], zoning_data: Path
) -> None:
    oracle = load_oracle(zoning_data, "2014", "2016")
    first = await _sync(server, engine)
    assert first.summary is not None
    assert (first.summary.expected, first.summary.received) == (1138, 1138)
    assert first.summary.count_mismatch is None
    assert first.written["inserted"] == oracle["counts"]["old_features"]

    server.load(snapshots["2016"])
    second = await _sync(server, engine)
    assert second.summary is not None
    assert second.summary.removed == oracle["counts"]["removed"]
    assert second.written["unchanged"] == oracle["counts"]["unchanged"]

    with engine.connect() as conn:
        [report] = change_report(conn, OPTIONS)
    assert (report.from_sync, report.to_sync) == (first.sync_id, second.sync_id)
    _check_against_oracle(report, oracle, snapshots["2014"], snapshots["2016"])

    # An unchanged re-sync writes no new row versions (PostgreSQL: no new xmin).
    versions = _row_versions(engine)
    third = await _sync(server, engine)
    assert third.written == {
        "inserted": 0,
        "replaced": 0,
        "rewritten": 0,
        "unchanged": 1153,
        "rejected": 0,
    }
    assert _row_versions(engine) == versions
    with engine.connect() as conn:
        [again] = change_report(conn, OPTIONS)
        [since] = change_report(conn, OPTIONS, since=first.sync_id)
    assert again.changes == []
    assert since.counts == report.counts


def _read_report(report: LayerChanges, fmt: str) -> str:
    out = io.StringIO()
    write_report([report], fmt, out)  # type: ignore[arg-type]
    return out.getvalue()


async def test_reports_and_exports_in_every_format(
    server: ArcGISServer, sqlite_engine: sa.Engine, snapshots: dict[str, Any]
) -> None:
    await _sync(server, sqlite_engine)
    server.load(snapshots["2016"])
    second = await _sync(server, sqlite_engine)
    with sqlite_engine.connect() as conn:
        [report] = change_report(conn, OPTIONS, jurisdiction="san-jose")
        exported = {fmt: io.StringIO() for fmt in ("geojson", "jsonl", "csv")}
        counts = {fmt: export_features(conn, fmt, out) for fmt, out in exported.items()}  # type: ignore[arg-type]
    assert counts == {"geojson": 1153, "jsonl": 1153, "csv": 1153}

    as_json = json.loads(_read_report(report, "json"))
    assert as_json["layers"][0]["counts"] == report.counts
    as_geojson = json.loads(_read_report(report, "geojson"))
    assert len(as_geojson["features"]) == len(report.changes)
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in as_geojson["features"])
    rows = list(csv.DictReader(io.StringIO(_read_report(report, "csv"))))
    assert {r["kind"] for r in rows} == {k for k, n in report.counts.items() if n}

    _check_rfc7946(json.loads(exported["geojson"].getvalue()), snapshots["2016"], second.sync_id)
    lines = exported["jsonl"].getvalue().splitlines()
    assert len(lines) == 1153 and json.loads(lines[0])["type"] == "Feature"
    limit = csv.field_size_limit(1 << 30)  # a WKT column holds whole polygons
    try:
        table = list(csv.DictReader(io.StringIO(exported["csv"].getvalue())))
    finally:
        csv.field_size_limit(limit)
    assert shapely.from_wkt(table[0]["geometry_wkt"]).is_valid
    assert {"ZONING_ID", "ZONING", "h3", "sync_id", "jurisdiction"} <= set(table[0])


def _check_rfc7946(doc: dict[str, Any], source: dict[str, Any], sync_id: int) -> None:
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    by_id = _by_id(source)
    assert len(doc["features"]) == len(by_id)
    for feature in doc["features"]:
        geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
        assert geometry.is_valid and geometry.geom_type in {"Polygon", "MultiPolygon"}
        polygons = getattr(geometry, "geoms", [geometry])
        assert all(shapely.is_ccw(p.exterior) for p in polygons)  # RFC 7946 §3.1.6
        xmin, ymin, xmax, ymax = geometry.bounds  # the extent PROVENANCE.md gives
        assert xmin > -121.951 and xmax < -121.778 and ymin > 37.228 and ymax < 37.424
        props = feature["properties"]
        assert h3.is_valid_cell(props.pop("h3"))
        assert props.pop("jurisdiction") == "san-jose"
        assert props.pop("sync_id") <= sync_id
        assert props == by_id[props["ZONING_ID"]]["properties"]


async def test_page_keys_are_deterministic_per_sync(
    server: ArcGISServer, sqlite_engine: sa.Engine
) -> None:
    first = await _sync(server, sqlite_engine)
    with sqlite_engine.connect() as conn:
        committed = store.committed_pages(conn, first.sync_id)
    assert committed == {page.key(first.sync_id) for page in first.plan.pages}
    second = await _sync(server, sqlite_engine)
    assert {p.key(second.sync_id) for p in second.plan.pages}.isdisjoint(committed)


async def test_one_sync_is_not_enough_for_a_report(
    server: ArcGISServer, sqlite_engine: sa.Engine
) -> None:
    await _sync(server, sqlite_engine)
    with sqlite_engine.connect() as conn, pytest.raises(ConfigError, match="two finished syncs"):
        change_report(conn, OPTIONS)

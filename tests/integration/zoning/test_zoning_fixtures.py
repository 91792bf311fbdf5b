"""Saved real ArcGIS answers from three county servers, through the pure parsers.

The fixtures (``arcgis_fixtures/``, from openaddresses/pyesridump) are real-shaped
answers of 10.2-era servers: no ``objectIdField`` key, no pagination flags, a
spatial reference given only as WKT, an error object inside a 200, a degenerate
ring, and a layer of points.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parcelflow.errors import TransientError
from parcelflow.pipelines.zoning.records import (
    PageBody,
    RawPage,
    process_page,
    process_page_body,
    to_raw_page,
)
from parcelflow.sources import arcgis
from parcelflow.sources.http import error_in_body

URL = "https://gis.example.gov/arcgis/rest/services/Parcels/MapServer/5"


@pytest.fixture(scope="module")
def fixtures(zoning_data: Path) -> Path:
    return zoning_data / "arcgis_fixtures"


def _load(fixtures: Path, name: str) -> Any:
    return json.loads((fixtures / name).read_text())


def test_kent_metadata_pages_by_ids(fixtures: Path) -> None:
    info = arcgis.parse_layer_metadata(URL, _load(fixtures, "us-mi-kent/us-mi-kent-metadata.json"))
    assert info.object_id_field == "OBJECTID"  # found by its esriFieldTypeOID type
    assert info.max_record_count == 1000
    assert arcgis.choose_strategy(info) == "ids"  # 10.22: no pagination
    assert info.native_crs is not None and info.native_crs.startswith("PROJCS")


def test_madison_metadata_names_its_crs_by_latest_wkid(fixtures: Path) -> None:
    meta = _load(fixtures, "us-ms-madison/us-ms-madison-metadata.json")
    info = arcgis.parse_layer_metadata(URL, meta)
    assert info.native_crs == "EPSG:2255"
    assert info.geometry_type == "esriGeometryPolygon"


def test_counts_and_ids(fixtures: Path) -> None:
    assert arcgis.parse_count(_load(fixtures, "us-mi-kent/us-mi-kent-count-only.json")) == 222460
    assert arcgis.parse_count(_load(fixtures, "us-ms-madison/us-ms-madison-count-only.json")) == 124
    ids = arcgis.parse_ids(_load(fixtures, "us-mi-kent/us-mi-kent-ids-only.json"))
    assert ids[:3] == [1, 2, 3] and len(ids) == 15
    info = arcgis.parse_layer_metadata(URL, _load(fixtures, "us-mi-kent/us-mi-kent-metadata.json"))
    pages = arcgis.plan_id_pages(info, ids, size=10)
    assert [p.expected for p in pages] == [10, 5]


def test_the_statistics_error_is_a_transient_error_in_a_200(fixtures: Path) -> None:
    error = error_in_body(_load(fixtures, "us-mi-kent/us-mi-kent-statistics.json"))
    assert isinstance(error, TransientError)
    assert error.code == "error_in_200"


def test_kent_parcels_in_wkt_feet_land_in_kent_county(fixtures: Path) -> None:
    body = (fixtures / "us-mi-kent/us-mi-kent-0.json").read_bytes()
    page = process_page_body(PageBody("esri", answers=(body,), key_field="OBJECTID"))
    assert len(page.rows) == 15 and page.rejected == []
    import shapely

    for row in page.rows:
        lon, lat = shapely.from_wkb(row.wkb).representative_point().coords[0]
        # Kent County, Michigan (Grand Rapids): about 85.2 to 85.8 W, 42.8 to 43.3 N.
        assert -85.9 < lon < -85.1 and 42.7 < lat < 43.4


def test_madison_degenerate_ring_is_rejected(fixtures: Path) -> None:
    doc = _load(fixtures, "us-ms-madison/us-ms-madison-0.json")
    page = process_page(RawPage("esri", doc["features"], "EPSG:4326", key_field="OBJECTID"))
    assert page.rows == []
    assert [(r.key, r.code) for r in page.rejected] == [("26353", "broken_ring")]


def test_cook_points_are_counted_and_rejected_as_not_polygonal(fixtures: Path) -> None:
    full = (fixtures / "us-il-cook/page-full.json").read_bytes()
    partial = (fixtures / "us-il-cook/page-partial.json").read_bytes()
    assert arcgis.scan_answer(full) == (500, False)
    assert arcgis.scan_answer(partial) == (2, False)
    page = process_page_body(PageBody("esri", answers=(partial,), key_field="OBJECTID"))
    assert {r.code for r in page.rejected} == {"not_polygonal"}
    meta = _load(fixtures, "us-il-cook/metadata.json")
    info = arcgis.parse_layer_metadata(URL, meta)
    assert info.geometry_type == "esriGeometryPoint"
    assert info.max_record_count == arcgis.DEFAULT_MAX_RECORD_COUNT


def test_real_answers_read_as_arrays_match_plain_parsing(fixtures: Path) -> None:
    for name in ("us-mi-kent/us-mi-kent-0.json", "us-ms-madison/us-ms-madison-0.json"):
        body = PageBody("esri", answers=((fixtures / name).read_bytes(),), key_field="OBJECTID")
        assert process_page_body(body) == process_page(to_raw_page(body)), name

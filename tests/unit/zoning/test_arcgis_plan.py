"""ArcGIS layer metadata and page planning, as pure functions over server answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parcelflow.errors import ConfigError, PermanentError
from parcelflow.sources import arcgis

URL = "https://gis.example.gov/arcgis/rest/services/Planning/Zoning/FeatureServer/3"


def _metadata(**extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "currentVersion": 10.91,
        "name": "Zoning",
        "type": "Feature Layer",
        "geometryType": "esriGeometryPolygon",
        "objectIdField": "OBJECTID",
        "maxRecordCount": 2000,
        "capabilities": "Query,Extract",
        "advancedQueryCapabilities": {"supportsPagination": True, "supportsOrderBy": True},
        "extent": {"spatialReference": {"wkid": 102643, "latestWkid": 2227}},
        "fields": [
            {"name": "OBJECTID", "type": "esriFieldTypeOID"},
            {"name": "ZONING", "type": "esriFieldTypeString"},
        ],
    }
    meta.update(extra)
    return meta


@pytest.mark.parametrize(
    "url",
    [URL, URL + "/", "http://host/arcgis/rest/services/x/MapServer/0", URL + "?f=json"],
)
def test_layer_urls_are_recognised(url: str) -> None:
    assert arcgis.is_layer_url(url)


def test_layer_url_is_canonical() -> None:
    assert arcgis.layer_url("HTTPS://GIS.Example.gov/a/FeatureServer/3/?f=pjson") == (
        "https://gis.example.gov/a/FeatureServer/3"
    )


def test_a_service_url_says_to_append_the_layer_number() -> None:
    with pytest.raises(ConfigError, match="append the layer number"):
        arcgis.layer_url(URL.rsplit("/", 1)[0])


@pytest.mark.parametrize("url", ["https://example.com/zoning.geojson", "ftp://x/FeatureServer/0"])
def test_other_urls_are_not_layers(url: str) -> None:
    with pytest.raises(ConfigError, match="not an ArcGIS layer URL"):
        arcgis.layer_url(url)


def test_metadata_of_a_modern_layer() -> None:
    info = arcgis.parse_layer_metadata(URL, _metadata())
    assert info.object_id_field == "OBJECTID"
    assert info.max_record_count == 2000
    assert info.supports_pagination and info.supports_order_by
    assert info.native_crs == "EPSG:2227"  # latestWkid wins over the Esri code
    assert arcgis.choose_strategy(info) == "offset"


def test_old_servers_name_the_oid_only_in_fields_and_page_by_ids() -> None:
    meta = _metadata(currentVersion=10.2, maxRecordCount=None)
    del meta["objectIdField"], meta["advancedQueryCapabilities"]
    info = arcgis.parse_layer_metadata(URL, meta)
    assert info.object_id_field == "OBJECTID"
    assert info.max_record_count == arcgis.DEFAULT_MAX_RECORD_COUNT
    assert arcgis.choose_strategy(info) == "ids"


def test_pagination_without_order_by_is_unreliable() -> None:
    meta = _metadata(advancedQueryCapabilities={"supportsPagination": True})
    assert arcgis.choose_strategy(arcgis.parse_layer_metadata(URL, meta)) == "ids"


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"layers": [{"id": 0}], "currentVersion": 10.9}, "is a service"),
        ({"type": "Group Layer", "subLayers": []}, "not a feature layer"),
        ("<html>", "not a JSON object"),
    ],
)
def test_things_that_are_not_layers(doc: Any, reason: str) -> None:
    with pytest.raises(PermanentError, match=reason) as caught:
        arcgis.parse_layer_metadata(URL, doc)
    assert caught.value.code == "not_a_layer"


def test_a_layer_without_query_capability_is_refused() -> None:
    with pytest.raises(PermanentError) as caught:
        arcgis.parse_layer_metadata(URL, _metadata(capabilities="Map"))
    assert caught.value.code == "not_queryable"


@pytest.mark.parametrize(
    ("spatial_reference", "crs"),
    [
        ({"wkid": 4326}, "EPSG:4326"),
        ({"wkid": 102100, "latestWkid": 3857}, "EPSG:3857"),
        ({"wkid": 102643}, "ESRI:102643"),
        ({"wkt": 'PROJCS["x"]'}, 'PROJCS["x"]'),
        ({}, None),
        (None, None),
    ],
)
def test_crs_of_a_spatial_reference(spatial_reference: Any, crs: str | None) -> None:
    assert arcgis.crs_of(spatial_reference) == crs


def test_count_and_ids_answers() -> None:
    assert arcgis.parse_count({"count": 1138}) == 1138
    assert arcgis.parse_ids({"objectIdFieldName": "OID", "objectIds": [3, 1, 2, 2]}) == [1, 2, 3]
    assert arcgis.parse_ids({"objectIdFieldName": "OID", "objectIds": None}) == []
    with pytest.raises(PermanentError):
        arcgis.parse_count({"error": {"code": 400}})


def test_offset_plan_covers_the_count_in_object_id_order() -> None:
    info = arcgis.parse_layer_metadata(URL, _metadata(maxRecordCount=200))
    pages = arcgis.plan_offset_pages(info, count=1138, size=arcgis.page_size(info, 500))
    assert [p.expected for p in pages] == [200] * 5 + [138]
    assert [p.last for p in pages] == [False] * 5 + [True]
    params = dict(pages[5].request.params)
    assert params["resultOffset"] == "1000"
    assert params["resultRecordCount"] == "138"
    assert params["orderByFields"] == "OBJECTID ASC"
    assert params["outSR"] == "4326"
    assert len({p.request.digest() for p in pages}) == 6


def test_page_keys_are_the_same_when_planned_again() -> None:
    info = arcgis.parse_layer_metadata(URL, _metadata())
    first = arcgis.plan_offset_pages(info, 5000, 1000)
    again = arcgis.plan_offset_pages(info, 5000, 1000)
    assert [p.request.digest("7") for p in first] == [p.request.digest("7") for p in again]


def test_id_plan_posts_chunks_of_ids() -> None:
    info = arcgis.parse_layer_metadata(URL, _metadata())
    pages = arcgis.plan_id_pages(info, [9, 1, 5, 3, 7], size=2)
    assert [p.expected for p in pages] == [2, 2, 1]
    assert {p.request.method for p in pages} == {"POST"}
    assert [dict(p.request.params)["objectIds"] for p in pages] == ["1,3", "5,7", "9"]


def test_page_round_trips_through_a_payload() -> None:
    info = arcgis.parse_layer_metadata(URL, _metadata())
    page = arcgis.plan_offset_pages(info, 10, 4)[-1]
    assert arcgis.LayerPage.from_payload(json.loads(json.dumps(page.to_payload()))) == page


def test_page_size_is_capped_by_the_server() -> None:
    info = arcgis.parse_layer_metadata(URL, _metadata(maxRecordCount=1000))
    assert arcgis.page_size(info, None) == 1000
    assert arcgis.page_size(info, 250) == 250
    assert arcgis.page_size(info, 5000) == 1000
    with pytest.raises(ConfigError):
        arcgis.page_size(info, 0)


def test_scan_counts_features_and_the_transfer_flag_without_parsing() -> None:
    features = [{"attributes": {"NOTE": '"attributes": inside a string'}, "geometry": None}] * 3
    body = json.dumps({"features": features, "exceededTransferLimit": True}).encode()
    assert arcgis.scan_answer(body) == (3, True)
    compact = json.dumps({"features": [], "exceededTransferLimit": False}).encode()
    assert arcgis.scan_answer(compact) == (0, False)


def test_parse_answers_joins_the_answers_of_a_capped_page() -> None:
    def answer(ids: list[int], exceeded: bool) -> bytes:
        features = [{"attributes": {"OBJECTID": i}, "geometry": None} for i in ids]
        doc = {"spatialReference": {"wkid": 2227}, "features": features}
        return json.dumps(doc | ({"exceededTransferLimit": True} if exceeded else {})).encode()

    page = arcgis.parse_answers([answer([1, 2], True), answer([3], False)])
    assert [f["attributes"]["OBJECTID"] for f in page.features] == [1, 2, 3]
    assert page.crs == "EPSG:2227"
    assert page.exceeded is False

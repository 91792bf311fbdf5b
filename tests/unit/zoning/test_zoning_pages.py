"""Zoning page jobs: payload round trips and deterministic, sync-salted keys."""

from __future__ import annotations

import json

import pytest

from parcelflow.errors import PermanentError
from parcelflow.pipelines.zoning.source import (
    SourcePlan,
    ZoningPage,
    page_from_payload,
    page_submissions,
)
from parcelflow.sources import arcgis, geojson

URL = "https://gis.example.gov/arcgis/rest/services/Zoning/FeatureServer/0"
META = {
    "name": "Zoning",
    "type": "Feature Layer",
    "geometryType": "esriGeometryPolygon",
    "objectIdField": "OBJECTID",
    "maxRecordCount": 100,
    "advancedQueryCapabilities": {"supportsPagination": True, "supportsOrderBy": True},
    "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"}, {"name": "ZONING_ID"}],
}


def _plan() -> SourcePlan:
    info = arcgis.parse_layer_metadata(URL, META)
    pages = [
        ZoningPage("arcgis", p.index, "ZONING_ID", arcgis=p)
        for p in arcgis.plan_offset_pages(info, 250, 100)
    ]
    return SourcePlan("arcgis", URL, URL, "san-jose", "ZONING_ID", "OBJECTID", 250, "offset", pages)


def test_submissions_carry_json_payloads_and_keys_that_survive_a_round_trip() -> None:
    submissions = list(page_submissions(_plan(), sync_id=7))
    assert len(submissions) == 3
    for submission, page in zip(submissions, _plan().pages, strict=True):
        payload = json.loads(json.dumps(submission.payload))
        sync_id, again = page_from_payload(payload)
        assert (sync_id, again) == (7, page)
        assert submission.key == again.key(sync_id)
        assert submission.source.endswith(f"page {page.index + 1}")


def test_keys_differ_between_syncs_and_pages_but_not_between_plannings() -> None:
    first = [s.key for s in page_submissions(_plan(), 1)]
    again = [s.key for s in page_submissions(_plan(), 1)]
    later = [s.key for s in page_submissions(_plan(), 2)]
    assert first == again
    assert len(set(first)) == 3
    assert set(first).isdisjoint(later)


def test_geojson_pages_round_trip_too() -> None:
    pages = geojson.plan_pages("/data/zoning.geojson", "ab" * 32, count=1153, size=500)
    assert [p.limit for p in pages] == [500, 500, 500]
    page = ZoningPage("geojson", 2, None, geojson=pages[2])
    assert ZoningPage.from_payload(json.loads(json.dumps(page.to_payload()))) == page
    assert page.key(3) != page.key(4)


def test_a_foreign_payload_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as caught:
        page_from_payload({"path": "/tmp/x.pdf"})
    assert caught.value.code == "bad_payload"

"""A page of raw features into rows and rejections; options validation."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from parcelflow.errors import ConfigError, TransientError
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.records import (
    PageBody,
    RawPage,
    canonical_json,
    feature_key,
    process_page,
    process_page_body,
)

CW = [[-121.89, 37.33], [-121.89, 37.34], [-121.88, 37.34], [-121.88, 37.33], [-121.89, 37.33]]


def _esri(key: Any, zoning: str = "R-1-8", rings: Any = None, oid: int = 1) -> dict[str, Any]:
    geometry = {"rings": [CW]} if rings is None else rings
    return {
        "attributes": {"OBJECTID": oid, "ZONING_ID": key, "ZONING": zoning},
        "geometry": geometry,
    }


def _page(*features: dict[str, Any], **kwargs: Any) -> RawPage:
    return RawPage("esri", list(features), "EPSG:4326", key_field="ZONING_ID", **kwargs)


def test_rows_carry_canonical_attributes_wkb_hashes_and_h3() -> None:
    page = process_page(_page(_esri(310)), h3_resolution=7)
    [row] = page.rows
    assert row.key == "310"
    assert json.loads(row.attrs_json) == row.attrs
    assert row.attrs_json == canonical_json(row.attrs)
    assert len(row.attrs_hash) == len(row.geom_hash) == 64
    assert row.h3.startswith("87")  # resolution 7 cells are 0x87...
    assert page.received == 1 and page.rejected == []


def test_duplicate_keys_in_a_page_keep_the_last_and_count_conflicts() -> None:
    page = process_page(_page(_esri(1, "CG"), _esri(1, "CG"), _esri(1, "DC"), _esri(2)))
    assert [(r.key, r.attrs["ZONING"]) for r in page.rows] == [("1", "DC"), ("2", "R-1-8")]
    assert page.duplicates == 2
    assert page.conflicts == 1


def test_bad_features_are_rejected_with_reasons_and_the_rest_kept() -> None:
    broken = {"rings": [[[0, 0], [1, 1], [0, 0]]]}
    features = [_esri(1), _esri(None), _esri(3, rings=None) | {"geometry": None}]
    features += [_esri(4, rings=broken), "not a feature", _esri(6)]
    page = process_page(_page(*features))
    assert [r.key for r in page.rows] == ["1", "6"]
    assert [(r.index, r.key, r.code) for r in page.rejected] == [
        (1, None, "no_key"),
        (2, "3", "no_geometry"),
        (3, "4", "broken_ring"),
        (4, None, "invalid_feature"),
    ]
    assert all("\n" not in r.message and r.message for r in page.rejected)


def test_dropped_fields_are_not_stored() -> None:
    page = process_page(_page(_esri(1, oid=77), drop_fields=("OBJECTID",)))
    assert "OBJECTID" not in page.rows[0].attrs


def test_geojson_keys_default_to_the_feature_id() -> None:
    feature = {
        "type": "Feature",
        "id": 41.0,
        "properties": {"ZONING": "CG"},
        "geometry": {"type": "Polygon", "coordinates": [CW[::-1]]},
    }
    page = process_page(RawPage("geojson", [feature]))
    assert page.rows[0].key == "41"


def test_projected_coordinates_without_a_crs_fall_back_to_the_native_crs() -> None:
    # San Jose in EPSG:2227 feet, in an answer that forgot its spatialReference.
    ring = [[6157000.0, 1950000.0], [6157000.0, 1950300.0], [6157300.0, 1950300.0]]
    ring += [[6157300.0, 1950000.0], [6157000.0, 1950000.0]]
    raw = RawPage("esri", [_esri(1, rings={"rings": [ring]})], None, "EPSG:2227", "ZONING_ID")
    row = process_page(raw).rows[0]
    assert row.h3  # reprojected to lon/lat, so an H3 cell exists
    without = RawPage("esri", [_esri(1, rings={"rings": [ring]})], None, None, "ZONING_ID")
    assert process_page(without).rejected[0].code == "bad_coordinates"


def test_page_bodies_are_parsed_in_the_cpu_stage_and_pickle() -> None:
    answer = {"spatialReference": {"wkid": 4326}, "features": [_esri(5)]}
    body = PageBody("esri", answers=(json.dumps(answer).encode(),), key_field="ZONING_ID")
    assert pickle.loads(pickle.dumps(body)) == body
    page = process_page_body(body)
    assert [r.key for r in page.rows] == ["5"]
    assert pickle.loads(pickle.dumps(page)).rows == page.rows


def test_an_error_answer_raises_in_the_cpu_stage() -> None:
    body = PageBody("esri", answers=(b'{"error": {"code": 500, "message": "boom"}}',))
    with pytest.raises(TransientError):
        process_page_body(body)


@pytest.mark.parametrize(
    ("value", "key"),
    [(41, "41"), (41.0, "41"), (4.5, "4.5"), (" A1 ", "A1"), ("", None), (None, None)],
)
def test_feature_keys(value: Any, key: str | None) -> None:
    assert feature_key(value) == key


def test_canonical_json_is_sorted_and_turns_nan_into_null() -> None:
    assert canonical_json({"b": 1, "a": float("nan")}) == '{"a":null,"b":1}'


def test_options_validate_rate_and_normalisers() -> None:
    assert ZoningOptions(rate="300/min").http_settings().rate == pytest.approx(5.0)
    with pytest.raises(ConfigError):
        ZoningOptions(rate="fast")
    with pytest.raises(ConfigError):
        ZoningOptions(normalize=("ZONE_FILE=shout",))

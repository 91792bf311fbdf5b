"""Vectorised geometry hygiene: reading rings, repair, rejection reasons, WKB, H3."""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import pyproj
import pytest
import shapely

from parcelflow.errors import PermanentError
from parcelflow.pipelines.zoning import geometry

SQUARE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
BOWTIE = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]


def _square(x: float, y: float, size: float, clockwise: bool = False) -> list[list[float]]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return ring[::-1] if clockwise else ring


def _read_clean(geoms: list[Any], fmt: geometry.GeometryFormat) -> geometry.CleanGeometries:
    built, rejected = geometry.read_geometries(geoms, fmt)
    cleaned = geometry.clean(built, None)
    return geometry.CleanGeometries(cleaned.geometries, rejected + cleaned.rejected)


def _codes(result: geometry.CleanGeometries) -> dict[int, str]:
    return {r.index: r.code for r in result.rejected}


def test_geojson_polygons_and_multipolygons_are_read() -> None:
    geoms = [
        {"type": "Polygon", "coordinates": [SQUARE]},
        {
            "type": "MultiPolygon",
            "coordinates": [[_square(0, 0, 4), _square(1, 1, 1, True)], [_square(10, 10, 1)]],
        },
    ]
    result = _read_clean(geoms, "geojson")
    assert _codes(result) == {}
    assert result.geometries[0].geom_type == "Polygon"
    assert result.geometries[1].geom_type == "MultiPolygon"
    assert result.geometries[1].area == pytest.approx(16 - 1 + 1)


def test_esri_rings_by_orientation_with_holes_and_an_island_in_a_hole() -> None:
    # Esri: shells clockwise, holes counter-clockwise; the island sits in the hole.
    rings = [_square(0, 0, 10, True), _square(2, 2, 6), _square(4, 4, 2, True)]
    result = _read_clean([{"rings": rings}], "esri")
    assert _codes(result) == {}
    assert result.geometries[0].area == pytest.approx(100 - 36 + 4)
    assert shapely.is_valid(result.geometries[0])


def test_esri_feature_with_only_counter_clockwise_rings_is_read_as_shells() -> None:
    result = _read_clean([{"rings": [_square(0, 0, 2)]}], "esri")
    assert result.geometries[0].area == pytest.approx(4.0)


def test_esri_json_and_geojson_of_the_same_shape_give_the_same_wkb() -> None:
    esri = {"rings": [_square(0, 0, 4, True), _square(1, 1, 1)]}
    gj = {"type": "Polygon", "coordinates": [_square(0, 0, 4), _square(1, 1, 1, True)]}
    a = _read_clean([esri], "esri").geometries
    b = _read_clean([gj], "geojson").geometries
    assert geometry.wkb_hashes(a)[1] == geometry.wkb_hashes(b)[1]


def test_exteriors_come_out_counter_clockwise_whatever_came_in() -> None:
    clockwise = {"type": "Polygon", "coordinates": [_square(0, 0, 1, True)]}
    result = _read_clean([clockwise], "geojson")
    assert shapely.is_ccw(result.geometries[0].exterior)


def test_a_bowtie_is_repaired_into_a_valid_polygonal_geometry() -> None:
    result = _read_clean([{"type": "Polygon", "coordinates": [BOWTIE]}], "geojson")
    assert _codes(result) == {}
    assert shapely.is_valid(result.geometries[0])
    assert result.geometries[0].area == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("geom", "code"),
    [
        (None, "no_geometry"),
        ({"type": "Point", "coordinates": [1, 2]}, "not_polygonal"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "not_polygonal"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "broken_ring"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "broken_ring"),
        ({"type": "Polygon", "coordinates": []}, "broken_ring"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}, "empty_geometry"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, "x"], [1, 1], [0, 0]]]},
            "bad_coordinates",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, np.nan], [1, 1], [0, 0]]]},
            "bad_coordinates",
        ),
        ({"type": "Circle", "coordinates": [0, 0]}, "invalid_geometry"),
        ({"type": "Polygon", "coordinates": [_square(500, 0, 1)]}, "bad_coordinates"),
    ],
)
def test_unusable_geojson_geometries_are_rejected_with_a_reason(geom: Any, code: str) -> None:
    good = {"type": "Polygon", "coordinates": [SQUARE]}
    result = _read_clean([good, geom, good], "geojson")
    assert _codes(result) == {1: code}
    assert result.geometries[0] is not None and result.geometries[2] is not None
    assert result.geometries[1] is None


@pytest.mark.parametrize(
    ("geom", "code"),
    [
        (None, "no_geometry"),
        ({}, "no_geometry"),
        ({"rings": []}, "no_geometry"),
        ({"x": 1.0, "y": 2.0}, "not_polygonal"),
        ({"paths": [[[0, 0], [1, 1]]]}, "not_polygonal"),
        # A real degenerate ring (Madison County, MS): three positions, the last the first.
        (
            {"rings": [[[-90.17655, 32.51907], [-90.17654, 32.51907], [-90.17655, 32.51907]]]},
            "broken_ring",
        ),
    ],
)
def test_unusable_esri_geometries_are_rejected_with_a_reason(geom: Any, code: str) -> None:
    result = _read_clean([{"rings": [_square(0, 0, 1, True)]}, geom], "esri")
    assert _codes(result) == {1: code}


def test_unclosed_esri_rings_are_closed() -> None:
    open_ring = [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]
    result = _read_clean([{"rings": [open_ring]}], "esri")
    assert result.geometries[0].area == pytest.approx(1.0)


def test_reprojection_uses_lon_lat_order_and_lands_where_the_crs_says() -> None:
    to_feet = pyproj.Transformer.from_crs(4326, 2227, always_xy=True)
    x, y = to_feet.transform(-121.8863, 37.3382)  # San Jose City Hall
    ring = _square(x, y, 100.0)
    built, _ = geometry.read_geometries([{"type": "Polygon", "coordinates": [ring]}], "geojson")
    cleaned = geometry.clean(built, "EPSG:2227")
    lon, lat = cleaned.geometries[0].exterior.coords[0]
    assert lon == pytest.approx(-121.8863, abs=1e-6)
    assert lat == pytest.approx(37.3382, abs=1e-6)


def test_an_unknown_crs_is_a_permanent_error() -> None:
    built, _ = geometry.read_geometries([{"type": "Polygon", "coordinates": [SQUARE]}], "geojson")
    with pytest.raises(PermanentError) as caught:
        geometry.clean(built, "EPSG:999999")
    assert caught.value.code == "unknown_crs"


@pytest.mark.parametrize("crs", [None, "EPSG:4326", "urn:ogc:def:crs:OGC:1.3:CRS84", "OGC:CRS84"])
def test_wgs84_names(crs: str | None) -> None:
    assert geometry.crs_is_wgs84(crs)


def test_h3_cell_holds_the_feature_and_takes_latitude_first() -> None:
    polygon = shapely.box(-121.89, 37.33, -121.88, 37.34)
    cells = geometry.h3_cells(np.array([polygon], dtype=object), 9)
    assert h3.get_resolution(cells[0]) == 9
    boundary = shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cells[0])])
    assert boundary.intersects(polygon)
    lat, lng = h3.cell_to_latlng(cells[0])
    assert 37.3 < lat < 37.4 and -122 < lng < -121.8


def test_wkb_is_2d_little_endian_and_hashed() -> None:
    polygon = shapely.Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 0, 5)])
    wkb, hashes = geometry.wkb_hashes(np.array([polygon], dtype=object))
    assert wkb[0][:1] == b"\x01"
    assert not shapely.has_z(shapely.from_wkb(wkb[0]))
    assert len(hashes[0]) == 64


def test_metre_hausdorff_measures_a_known_shift() -> None:
    # 0.0001 degree of latitude is about 11 metres anywhere.
    a = shapely.box(-121.89, 37.33, -121.88, 37.34)
    b = shapely.transform(a, lambda c: c + np.array([0.0, 0.0001]))
    distance = geometry.metre_hausdorff(np.array([a], dtype=object), np.array([b], dtype=object))
    assert distance[0] == pytest.approx(11.06, rel=0.01)


def test_metre_hausdorff_agrees_with_geos_on_many_pairs() -> None:
    rng = np.random.default_rng(1)
    a, b = [], []
    for _ in range(40):
        x, y = rng.uniform(-121.9, -121.8), rng.uniform(37.3, 37.4)
        a.append(shapely.buffer(shapely.Point(x, y), rng.uniform(1e-4, 1e-3), quad_segs=8))
        moved = shapely.Point(x + rng.normal(0, 2e-5), y)
        shape = shapely.buffer(moved, rng.uniform(1e-4, 1e-3), quad_segs=int(rng.integers(2, 20)))
        if rng.random() < 0.3:  # a second part, for multipolygons
            shape = shapely.union(shape, shapely.buffer(shapely.Point(x + 5e-4, y), 2e-4))
        b.append(shape)
    first, second = np.array(a, dtype=object), np.array(b, dtype=object)
    ours = geometry.metre_hausdorff(first, second)
    lat = (shapely.bounds(first)[:, 1] + shapely.bounds(first)[:, 3]) / 2
    scale = np.cos(np.radians(lat)) * 111_320.0

    def metres(g: Any, k: float) -> Any:
        return shapely.transform(g, lambda c: c * np.array([k, 110_574.0]))

    geos = [
        shapely.hausdorff_distance(metres(p, k), metres(q, k))
        for p, q, k in zip(first, second, scale, strict=True)
    ]
    assert ours == pytest.approx(geos, abs=1e-6)

"""Geometry hygiene for a page of features, vectorised with shapely 2.

One page goes through array calls, not a Python loop per feature:

1. rings are read out of the JSON into one coordinate array (the only per-ring
   Python work is the JSON walk itself) and checked: at least four positions,
   closed (RFC 7946 §3.1.6), finite numbers;
2. rings become polygons: GeoJSON says which ring is a shell; Esri JSON says it
   by orientation (shells clockwise, holes counter-clockwise, per the ArcGIS
   REST geometry spec), and each hole goes to the smallest shell holding it;
3. everything is reprojected to EPSG:4326 with one reused pyproj Transformer
   per source CRS (``always_xy=True``: longitude first, whatever the CRS's axis
   order says);
4. ``make_valid(method="structure", keep_collapsed=False)`` repairs the invalid
   ones (self intersections, collapsed parts dropped); the polygonal part is
   kept, and a feature with nothing polygonal left is rejected with a reason;
5. exterior rings are turned counter-clockwise (RFC 7946 §3.1.6) and single-part
   multipolygons become polygons, so equal shapes give equal WKB;
6. WKB (2D, little-endian) is the stored form and the SHA-256 of the WKB its
   fingerprint; the H3 cell is that of a point on the surface.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

import h3
import numpy as np
import numpy.typing as npt
import pyproj
import shapely  # type: ignore[import-untyped]
from pyproj.exceptions import CRSError

from parcelflow.errors import PermanentError
from parcelflow.pipelines.zoning.esrijson import RingBlocks

__all__ = [
    "WGS84",
    "CleanGeometries",
    "GeometryFormat",
    "Rejected",
    "clean",
    "crs_is_wgs84",
    "h3_cells",
    "looks_like_lonlat",
    "metre_bounds_shift",
    "metre_hausdorff",
    "read_esri_blocks",
    "read_geometries",
    "reproject",
    "wkb_hashes",
]

GeometryFormat = Literal["esri", "geojson"]
WGS84 = "EPSG:4326"
GeometryArray = npt.NDArray[np.object_]
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7
_EMPTY = shapely.from_wkt("MULTIPOLYGON EMPTY")
# Metres per degree of latitude and (at the equator) longitude, WGS84 mean values.
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why the feature at ``index`` of the page has no usable geometry."""

    index: int
    code: str
    message: str


@dataclass(slots=True)
class _Rings:
    """Rings of a page, flattened: positions and per-ring bookkeeping."""

    rings: list[Sequence[Any]] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    polygon: list[int] = field(default_factory=list)
    shell: list[bool] = field(default_factory=list)
    rejected: dict[int, Rejected] = field(default_factory=dict)

    def reject(self, index: int, code: str, message: str) -> None:
        self.rejected.setdefault(index, Rejected(index, code, message))


def _ring_problem(ring: Any, must_close: bool) -> str | None:
    if not isinstance(ring, list) or not ring:
        return "a ring has no positions"
    closed = ring[0] == ring[-1]
    if must_close and not closed:
        return "a ring is not closed (first and last positions differ)"
    # Four positions once closed: the fewest that can enclose an area (RFC 7946 §3.1.6).
    if len(ring) + (0 if closed else 1) < 4:
        return "a ring has fewer than 4 positions"
    return None


def _add_polygon(out: _Rings, index: int, rings: Any, must_close: bool) -> None:
    if not isinstance(rings, list) or not rings:
        out.reject(index, "broken_ring", "a polygon has no rings")
        return
    polygon = (out.polygon[-1] + 1) if out.polygon else 0
    for position, ring in enumerate(rings):
        problem = _ring_problem(ring, must_close)
        if problem:
            out.reject(index, "broken_ring", problem)
            return
        out.rings.append(ring)
        out.feature.append(index)
        out.polygon.append(polygon)
        out.shell.append(position == 0)


def _geojson_rings(geometries: Iterable[Any]) -> _Rings:
    out = _Rings()
    for index, geometry in enumerate(geometries):
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if geometry is None:
            out.reject(index, "no_geometry", "feature has no geometry")
        elif kind == "Polygon":
            _add_polygon(out, index, coordinates, must_close=True)
        elif kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
            for polygon in coordinates:
                _add_polygon(out, index, polygon, must_close=True)
        elif kind in {"Point", "MultiPoint", "LineString", "MultiLineString"}:
            out.reject(index, "not_polygonal", f"geometry is a {kind}, not a polygon")
        else:
            out.reject(index, "invalid_geometry", f"not a GeoJSON polygon geometry: {kind!r}")
    return out


def _esri_rings(geometries: Iterable[Any]) -> _Rings:
    out = _Rings()
    for index, geometry in enumerate(geometries):
        rings = geometry.get("rings") if isinstance(geometry, dict) else None
        if not geometry or rings == []:
            # ArcGIS writes an empty shape as ``{"rings": []}`` (or ``null``).
            out.reject(index, "no_geometry", "feature has no geometry")
        elif rings is not None:
            # Each Esri ring is provisionally its own polygon; orientation decides later.
            for ring in rings if isinstance(rings, list) else [None]:
                _add_polygon(out, index, [ring], must_close=False)
        else:
            kinds = sorted(set(geometry) & {"x", "points", "paths"}) or sorted(geometry)
            out.reject(index, "not_polygonal", f"geometry has {kinds}, not rings")
    return out


def _drop_features(rings: _Rings, bad: set[int]) -> _Rings:
    keep = [i for i, feature in enumerate(rings.feature) if feature not in bad]
    return _Rings(
        [rings.rings[i] for i in keep],
        [rings.feature[i] for i in keep],
        [rings.polygon[i] for i in keep],
        [rings.shell[i] for i in keep],
        rings.rejected,
    )


def _coordinates(rings: _Rings, positions: int) -> npt.NDArray[np.float64]:
    """All positions as an (n, 2) array; bad positions reject their features."""
    try:
        # Two levels flattened straight into floats: no list per position is built.
        flat = np.fromiter(chain.from_iterable(chain.from_iterable(rings.rings)), np.float64)
    except (TypeError, ValueError):
        flat = np.empty(0)
    if len(flat) == 2 * positions:
        return flat.reshape(-1, 2)
    # Slow path, only for pages holding a malformed position or a Z or M value.
    return _coordinates_slowly(rings)


def _coordinates_slowly(rings: _Rings) -> npt.NDArray[np.float64]:
    flat: list[tuple[float, float]] = []
    for ring, feature in zip(rings.rings, rings.feature, strict=True):
        try:
            positions = [(float(p[0]), float(p[1])) for p in ring]
        except (TypeError, ValueError, IndexError):
            rings.reject(feature, "bad_coordinates", "a position is not a pair of numbers")
            positions = [(np.nan, np.nan)] * len(ring)
        flat.extend(positions)
    return np.asarray(flat, dtype=np.float64).reshape(-1, 2)


def _finite_rings(coords: npt.NDArray[np.float64], lengths: npt.NDArray[np.int64]) -> Any:
    if len(lengths) == 0:
        return np.ones(0, dtype=bool)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.logical_and.reduceat(np.isfinite(coords).all(axis=1), starts)


@dataclass(frozen=True, slots=True)
class _RingArrays:
    rings: GeometryArray
    feature: npt.NDArray[np.int64]
    polygon: npt.NDArray[np.int64]
    shell: npt.NDArray[np.bool_]


def _ring_arrays(rings: _Rings) -> _RingArrays:
    lengths = np.fromiter(map(len, rings.rings), dtype=np.int64, count=len(rings.rings))
    coords = _coordinates(rings, int(lengths.sum()))
    feature = np.asarray(rings.feature, dtype=np.int64)
    for index in np.unique(feature[~_finite_rings(coords, lengths)]):
        rings.reject(int(index), "bad_coordinates", "a coordinate is not a finite number")
    if rings.rejected and np.isin(feature, list(rings.rejected)).any():
        return _ring_arrays(_drop_features(rings, set(rings.rejected)))
    ring_ids = np.repeat(np.arange(len(lengths)), lengths)
    # linearrings closes an open ring itself (Esri rings are not always closed).
    built = shapely.linearrings(coords, indices=ring_ids) if len(coords) else np.empty(0, object)
    # Polygon ids must run 0..n-1 without gaps once rejected features are gone.
    polygon = np.unique(np.asarray(rings.polygon, dtype=np.int64), return_inverse=True)[1]
    return _RingArrays(
        np.asarray(built, dtype=object),
        feature,
        polygon.astype(np.int64),
        np.asarray(rings.shell, dtype=bool),
    )


def _multipolygons(
    rings: GeometryArray, polygon: npt.NDArray[np.int64], feature_of_polygon: Any, count: int
) -> GeometryArray:
    out = np.full(count, None, dtype=object)
    if len(rings) == 0:
        return out
    polygons = shapely.polygons(rings, indices=polygon)
    return np.asarray(shapely.multipolygons(polygons, indices=feature_of_polygon, out=out))


def _geojson_polygons(arrays: _RingArrays, count: int) -> GeometryArray:
    # Polygon ids are consecutive from 0; the feature of a polygon is that of its shell.
    return _multipolygons(arrays.rings, arrays.polygon, arrays.feature[arrays.shell], count)


def _esri_shells(arrays: _RingArrays) -> npt.NDArray[np.bool_]:
    shell = ~np.asarray(shapely.is_ccw(arrays.rings), dtype=bool)
    # A feature with no clockwise ring was written with the wrong orientation:
    # read all its rings as shells rather than lose it.
    has_shell = np.bincount(arrays.feature[shell], minlength=arrays.feature.max() + 1) > 0
    return np.asarray(shell | ~has_shell[arrays.feature], dtype=bool)


def _assign_holes(arrays: _RingArrays, shell: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The shell ring each ring belongs to (a shell belongs to itself)."""
    owner = np.where(shell, np.arange(len(shell)), -1)
    shells, holes = np.flatnonzero(shell), np.flatnonzero(~shell)
    if len(holes) == 0:
        return owner
    shell_polygons = shapely.polygons(arrays.rings[shells])
    hole_polygons = shapely.polygons(arrays.rings[holes])
    # The whole hole must lie in the shell: a point of it could sit on an island.
    tree = shapely.STRtree(shell_polygons)
    hole_at, shell_at = tree.query(hole_polygons, predicate="covered_by")
    same = arrays.feature[holes[hole_at]] == arrays.feature[shells[shell_at]]
    hole_at, shell_at = hole_at[same], shell_at[same]
    # The smallest shell containing a hole is its owner (islands in lakes in islands).
    order = np.lexsort((shapely.area(shell_polygons)[shell_at], hole_at))
    first = np.unique(hole_at[order], return_index=True)[1]
    owner[holes[hole_at[order][first]]] = shells[shell_at[order][first]]
    # A hole inside no shell of its feature is read as a shell of its own.
    orphan = owner < 0
    owner[orphan] = np.flatnonzero(orphan)
    return owner


def _esri_polygons(arrays: _RingArrays, count: int) -> GeometryArray:
    if len(arrays.rings) == 0:
        return np.full(count, None, dtype=object)
    shell = _esri_shells(arrays)
    owner = _assign_holes(arrays, shell)
    is_hole = owner != np.arange(len(owner))
    order = np.lexsort((is_hole, owner))
    _, polygon = np.unique(owner[order], return_inverse=True)
    shells_in_order = order[~is_hole[order]]
    return _multipolygons(arrays.rings[order], polygon, arrays.feature[shells_in_order], count)


def read_geometries(
    geometries: Sequence[Any], fmt: GeometryFormat
) -> tuple[GeometryArray, list[Rejected]]:
    """Polygons (possibly invalid) from GeoJSON or Esri JSON geometry objects.

    Returns:
        One multipolygon per input (``None`` where rejected) and the rejections.
    """
    rings = _geojson_rings(geometries) if fmt == "geojson" else _esri_rings(geometries)
    if rings.rejected:
        rings = _drop_features(rings, set(rings.rejected))
    arrays = _ring_arrays(rings)
    count = len(geometries)
    built = _geojson_polygons(arrays, count) if fmt == "geojson" else _esri_polygons(arrays, count)
    return built, sorted(rings.rejected.values(), key=lambda r: r.index)


def _block_features(
    geometries: Sequence[Any], blocks: RingBlocks
) -> tuple[npt.NDArray[np.int64], dict[int, Rejected]]:
    """The feature of each block, and the reasons of features that have no block."""
    feature_of_block = np.full(blocks.blocks, -1, dtype=np.int64)
    rejected: dict[int, Rejected] = {}
    for index, geometry in enumerate(geometries):
        block = geometry.get("rings") if isinstance(geometry, dict) else None
        if isinstance(block, int) and not isinstance(block, bool):
            feature_of_block[block] = index
        else:
            for reason in _esri_rings([geometry]).rejected.values():
                rejected[index] = Rejected(index, reason.code, reason.message)
    # Blocks with no ring at all are ArcGIS's empty shapes.
    empty = np.bincount(blocks.ring_block, minlength=blocks.blocks) == 0
    for index in feature_of_block[empty]:
        rejected[int(index)] = Rejected(int(index), "no_geometry", "feature has no geometry")
    return feature_of_block, rejected


def _broken_rings(blocks: RingBlocks) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per ring: too few positions once closed; a coordinate that is not finite."""
    lengths, coords = blocks.ring_lengths, blocks.coords
    if len(coords) == 0:
        return np.ones(len(lengths), dtype=bool), np.zeros(len(lengths), dtype=bool)
    starts = np.cumsum(lengths) - lengths
    first = np.minimum(starts, len(coords) - 1)
    last = np.minimum(starts + np.maximum(lengths - 1, 0), len(coords) - 1)
    closed = (coords[first] == coords[last]).all(axis=1)
    # Four positions once closed, as for GeoJSON; an open Esri ring is closed for it.
    short = (lengths == 0) | (lengths + ~closed < 4)
    bad = ~np.isfinite(coords).all(axis=1)
    ring_of_coord = np.repeat(np.arange(len(lengths)), lengths)
    not_finite = np.bincount(ring_of_coord, weights=bad, minlength=len(lengths)) > 0
    return short, not_finite


def read_esri_blocks(
    geometries: Sequence[Any], blocks: RingBlocks
) -> tuple[GeometryArray, list[Rejected]]:
    """Polygons from Esri rings already read into arrays (see :mod:`.esrijson`).

    Args:
        geometries: each feature's geometry, ``{"rings": block number}`` or
            whatever else the answer held (``null``, a point...).
        blocks: the page's rings.

    Returns:
        One multipolygon per feature (``None`` where rejected) and the rejections.
    """
    feature_of_block, rejected = _block_features(geometries, blocks)
    ring_feature = feature_of_block[blocks.ring_block]
    short, not_finite = _broken_rings(blocks)
    for index in np.unique(ring_feature[short]):
        message = "a ring has fewer than 4 positions"
        rejected.setdefault(int(index), Rejected(int(index), "broken_ring", message))
    for index in np.unique(ring_feature[not_finite]):
        message = "a coordinate is not a finite number"
        rejected.setdefault(int(index), Rejected(int(index), "bad_coordinates", message))
    keep = ~np.isin(ring_feature, list(rejected)) & (ring_feature >= 0)
    coord_keep = np.repeat(keep, blocks.ring_lengths)
    lengths = blocks.ring_lengths[keep]
    ring_ids = np.repeat(np.arange(len(lengths)), lengths)
    coords = blocks.coords[coord_keep]
    built = shapely.linearrings(coords, indices=ring_ids) if len(coords) else np.empty(0, object)
    arrays = _RingArrays(
        np.asarray(built, dtype=object),
        ring_feature[keep],
        np.arange(len(lengths), dtype=np.int64),
        np.zeros(len(lengths), dtype=bool),
    )
    polygons = _esri_polygons(arrays, len(geometries))
    return polygons, sorted(rejected.values(), key=lambda r: r.index)


_TRANSFORMERS = threading.local()


def crs_is_wgs84(crs: str | None) -> bool:
    """Is ``crs`` longitude/latitude WGS84 (``None`` is, per RFC 7946)?"""
    if crs is None:
        return True
    return crs.upper().replace("URN:OGC:DEF:CRS:", "") in {
        "EPSG:4326",
        "EPSG::4326",
        "OGC:1.3:CRS84",
        "OGC:CRS84",
        "CRS84",
    }


def _transformer(crs: str) -> pyproj.Transformer:
    # One Transformer per source CRS and per thread: building one costs far more
    # than using it, and pyproj transformers are not shared across threads.
    cache: dict[str, pyproj.Transformer] = _TRANSFORMERS.__dict__.setdefault("cache", {})
    transformer = cache.get(crs)
    if transformer is None:
        try:
            transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
        except CRSError as exc:
            raise PermanentError(f"unknown CRS {crs[:80]!r}: {exc}", code="unknown_crs") from exc
        cache[crs] = transformer
    return transformer


def reproject(geometries: GeometryArray, crs: str | None) -> GeometryArray:
    """Reproject to EPSG:4326 longitude/latitude in one array call (no-op from WGS84)."""
    if crs is None or crs_is_wgs84(crs):
        return geometries
    transformer = _transformer(crs)

    def to_wgs84(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack((x, y))

    return np.asarray(shapely.transform(geometries, to_wgs84), dtype=object)


def looks_like_lonlat(geometries: GeometryArray) -> bool:
    """Do all coordinates fall in the longitude/latitude range?"""
    bounds = shapely.total_bounds(geometries)
    if not np.isfinite(bounds).all():
        return True
    xmin, ymin, xmax, ymax = bounds
    return bool(xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90)


def _polygonal_parts(geometries: GeometryArray) -> GeometryArray:
    """Keep only the polygonal parts of geometry collections (``make_valid`` output)."""
    collections = np.flatnonzero(shapely.get_type_id(geometries) == _COLLECTION)
    if len(collections) == 0:
        return geometries
    parts, owner = shapely.get_parts(geometries[collections], return_index=True)
    # A collection may hold multipolygons: explode one level more (a polygon stays itself).
    parts, sub_owner = shapely.get_parts(parts, return_index=True)
    owner = owner[sub_owner]
    keep = shapely.get_type_id(parts) == _POLYGON
    grouped = np.full(len(collections), _EMPTY, dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=owner[keep], out=grouped)
    out = geometries.copy()
    out[collections] = grouped
    return out


@dataclass(frozen=True, slots=True)
class CleanGeometries:
    """Valid polygonal EPSG:4326 geometries of a page (``None`` where rejected)."""

    geometries: GeometryArray
    rejected: list[Rejected]


def _canonical(geometries: GeometryArray) -> GeometryArray:
    oriented = shapely.orient_polygons(geometries, exterior_cw=False)
    single = shapely.get_num_geometries(oriented) == 1
    multi = shapely.get_type_id(oriented) == _MULTIPOLYGON
    first = shapely.get_geometry(oriented, 0)
    return np.asarray(np.where(single & multi, first, oriented), dtype=object)


def _repaired(geometries: GeometryArray) -> GeometryArray:
    """``make_valid`` (structure method, collapsed parts dropped) where needed.

    Checking validity costs a fifth of repairing, and real layers are nearly
    all valid: only the invalid ones go through the repair.
    """
    out = np.asarray(geometries, dtype=object).copy()
    invalid = ~np.asarray(shapely.is_valid(out), dtype=bool)
    if invalid.any():
        out[invalid] = shapely.make_valid(out[invalid], method="structure", keep_collapsed=False)
    return out


def clean(geometries: GeometryArray, crs: str | None) -> CleanGeometries:
    """Reproject, repair and keep the polygonal part of each geometry.

    Rejections: ``empty_geometry`` (nothing left after repair, e.g. a ring of
    zero area), ``not_polygonal`` (only lines or points left),
    ``bad_coordinates`` (outside longitude/latitude after reprojection).
    """
    present = np.flatnonzero(shapely.is_geometry(geometries))
    rejected: list[Rejected] = []
    work = reproject(geometries[present], crs)
    work = _polygonal_parts(_repaired(work))
    kinds = shapely.get_type_id(work)
    empty = np.asarray(shapely.is_empty(work), dtype=bool)
    polygonal = np.isin(kinds, (_POLYGON, _MULTIPOLYGON))
    xmin, ymin, xmax, ymax = shapely.bounds(work).T
    outside = (xmin < -180) | (xmax > 180) | (ymin < -90) | (ymax > 90)
    for i in np.flatnonzero(empty | ~polygonal | outside):
        rejected.append(_reason(int(present[i]), bool(empty[i]), bool(outside[i])))
    good = ~(empty | ~polygonal | outside)
    out = np.full(len(geometries), None, dtype=object)
    out[present[good]] = _canonical(work[good]) if good.any() else []
    return CleanGeometries(out, rejected)


def _reason(index: int, empty: bool, outside: bool) -> Rejected:
    if empty:
        return Rejected(index, "empty_geometry", "geometry is empty once repaired (zero area)")
    if outside:
        message = "coordinates outside longitude/latitude range after reprojection (wrong CRS?)"
        return Rejected(index, "bad_coordinates", message)
    return Rejected(index, "not_polygonal", "no polygonal part left once repaired")


def wkb_hashes(geometries: GeometryArray) -> tuple[list[bytes], list[str]]:
    """2D little-endian WKB of each geometry and the SHA-256 of that WKB."""
    blobs = shapely.to_wkb(geometries, output_dimension=2, byte_order=1, flavor="iso")
    wkb = [bytes(b) for b in blobs]
    return wkb, [hashlib.sha256(b).hexdigest() for b in wkb]


def h3_cells(geometries: GeometryArray, resolution: int) -> list[str]:
    """The H3 cell (v4 string) of a point on each geometry's surface."""
    points = shapely.point_on_surface(geometries)
    lng, lat = shapely.get_x(points), shapely.get_y(points)
    # h3 v4 takes latitude first, unlike every other call in this module.
    return [
        h3.latlng_to_cell(y, x, resolution) for x, y in zip(lng.tolist(), lat.tolist(), strict=True)
    ]


def metre_hausdorff(a: GeometryArray, b: GeometryArray) -> npt.NDArray[np.float64]:
    """Hausdorff distance in metres between pairs of lon/lat geometries.

    Both members of a pair are scaled to local metres (equirectangular at the
    pair's mean latitude): accurate to well under a percent over a parcel,
    which is what a reshape tolerance needs. The measure is GEOS's discrete
    one (vertices of each to the linework of the other), computed with one
    spatial index for all pairs instead of GEOS's all-vertices-against-all-
    segments loop, which is quadratic and takes seconds on a 7,000-vertex zone.
    """
    if len(a) == 0:
        return np.zeros(0)
    bounds = shapely.bounds(a)
    scale = np.cos(np.radians((bounds[:, 1] + bounds[:, 3]) / 2)) * _M_PER_DEG_LON
    a_m, b_m = _scaled(a, scale), _scaled(b, scale)
    spacing = _pair_spacing(a_m, b_m)
    return np.maximum(_directed(a_m, b_m, spacing), _directed(b_m, a_m, spacing))


def _pair_spacing(a: GeometryArray, b: GeometryArray) -> float:
    """An x offset between pairs so large that no vertex is nearer another pair."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.concatenate((a, b)))
    span = max(xmax - xmin, ymax - ymin, 1.0)
    return float(3 * span)


def _segments(geometries: GeometryArray, spacing: float) -> tuple[GeometryArray, Any]:
    """Every segment of every ring, moved to its pair's stretch of the plane."""
    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    owner = part_owner[ring_part[coord_ring]]
    coords = coords + np.column_stack((owner * spacing, np.zeros(len(owner))))
    same_ring = coord_ring[:-1] == coord_ring[1:]
    ends = np.stack((coords[:-1][same_ring], coords[1:][same_ring]), axis=1)
    return np.asarray(shapely.linestrings(ends), dtype=object), owner[:-1][same_ring]


def _directed(a: GeometryArray, b: GeometryArray, spacing: float) -> npt.NDArray[np.float64]:
    """Per pair, the largest distance from a vertex of ``a`` to the linework of ``b``."""
    coords, owner = shapely.get_coordinates(a, return_index=True)
    coords = coords + np.column_stack((owner * spacing, np.zeros(len(owner))))
    segments, _ = _segments(b, spacing)
    hits, distance = shapely.STRtree(segments).query_nearest(
        shapely.points(coords), return_distance=True, all_matches=False
    )
    out = np.zeros(len(a))
    np.maximum.at(out, owner[hits[0]], distance)
    return out


def metre_bounds_shift(a: GeometryArray, b: GeometryArray) -> npt.NDArray[np.float64]:
    """How far, in metres, the furthest bounding-box edge moved between pairs.

    A lower bound of the Hausdorff distance that costs next to nothing.
    """
    if len(a) == 0:
        return np.zeros(0)
    box_a, box_b = shapely.bounds(a), shapely.bounds(b)
    x_scale = np.cos(np.radians((box_a[:, 1] + box_a[:, 3]) / 2)) * _M_PER_DEG_LON
    y_scale = np.full(len(box_a), _M_PER_DEG_LAT)
    factors = np.column_stack((x_scale, y_scale, x_scale, y_scale))
    return np.asarray((np.abs(box_a - box_b) * factors).max(axis=1), dtype=np.float64)


def _scaled(geometries: GeometryArray, x_scale: npt.NDArray[np.float64]) -> GeometryArray:
    coords, owner = shapely.get_coordinates(geometries, return_index=True)
    factors = np.column_stack((x_scale[owner], np.full(len(owner), _M_PER_DEG_LAT)))
    return np.asarray(shapely.set_coordinates(geometries.copy(), coords * factors), dtype=object)

"""One page of raw features in, storable feature rows (and rejections) out.

:func:`process_page_body` is the CPU stage of a zoning page job: pure,
synchronous, module-level and picklable in and out, so it runs in a worker
thread or, better (JSON parsing holds the GIL), in a process pool. A feature
that cannot be used becomes a :class:`Rejection` with a one-line reason; the
rest of the page carries on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from parcelflow.pipelines.zoning.esrijson import RingBlocks, read_answers
from parcelflow.pipelines.zoning.geometry import (
    GeometryFormat,
    Rejected,
    clean,
    h3_cells,
    looks_like_lonlat,
    read_esri_blocks,
    read_geometries,
    wkb_hashes,
)
from parcelflow.sources.arcgis import crs_of, parse_answers

__all__ = [
    "FeatureRow",
    "PageBody",
    "ProcessedPage",
    "RawPage",
    "Rejection",
    "canonical_json",
    "feature_key",
    "process_page",
    "process_page_body",
    "to_raw_page",
]


@dataclass(frozen=True, slots=True)
class RawPage:
    """Features of one page as the source delivered them.

    Attributes:
        format: ``esri`` (ArcGIS ``f=json``) or ``geojson``.
        features: the feature objects, unchecked.
        crs: the CRS the answer declares (``None``: not declared).
        fallback_crs: the layer's native CRS, used when the answer declares
            none and its coordinates are plainly not longitude/latitude.
        key_field: attribute holding the key (``None``: GeoJSON feature ``id``).
        exceeded: the server said more features exist than the layer counted.
        drop_fields: attributes not kept (the object id, when it is not the key).
    """

    format: GeometryFormat
    features: Sequence[Any]
    crs: str | None = None
    fallback_crs: str | None = None
    key_field: str | None = None
    exceeded: bool = False
    drop_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PageBody:
    """What the fetch stage hands to the CPU stage: picklable, unparsed where possible.

    ArcGIS answers travel as raw JSON bytes, so that parsing them (the
    costliest step after the geometry work) happens in the CPU stage, in a
    worker thread or process, and not on the event loop.

    Attributes:
        format: ``esri`` or ``geojson``.
        answers: ArcGIS query answers (JSON bytes, errors already ruled out).
        features: GeoJSON features (already parsed: documents are parsed once).
        crs: the document's CRS (GeoJSON ``crs`` member).
        fallback_crs: the layer's native CRS (see :class:`RawPage`).
        key_field: attribute holding the key.
        exceeded: the server said more features exist than the layer counted.
        drop_fields: attributes not kept.
    """

    format: GeometryFormat
    answers: tuple[bytes, ...] = ()
    features: tuple[Any, ...] = ()
    crs: str | None = None
    fallback_crs: str | None = None
    key_field: str | None = None
    exceeded: bool = False
    drop_fields: tuple[str, ...] = ()


def to_raw_page(body: PageBody) -> RawPage:
    """Parse a page body (the ArcGIS answers) into a :class:`RawPage`."""
    if body.format == "geojson":
        features, crs = list(body.features), body.crs
    else:
        parsed = parse_answers(body.answers)
        features, crs = parsed.features, parsed.crs
    return RawPage(
        body.format,
        features,
        crs,
        body.fallback_crs,
        body.key_field,
        body.exceeded,
        body.drop_fields,
    )


def process_page_body(body: PageBody, h3_resolution: int = 9) -> ProcessedPage:
    """Parse and process a page body: the CPU stage, safe for a thread or a process pool.

    ArcGIS answers are read with their rings as arrays (:mod:`.esrijson`) when
    they allow it, and parsed the plain way otherwise (errors, odd answers).
    """
    fast = read_answers(body.answers) if body.format == "esri" else None
    if fast is None:
        return process_page(to_raw_page(body), h3_resolution)
    features, first, rings = fast
    crs = crs_of(first.get("spatialReference") if isinstance(first, dict) else None)
    page = RawPage(
        "esri",
        features,
        crs,
        body.fallback_crs,
        body.key_field,
        body.exceeded,
        body.drop_fields,
    )
    return process_page(page, h3_resolution, rings)


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """A clean feature, ready for :func:`~parcelflow.pipelines.zoning.store.write_features`.

    The attributes travel only as their canonical JSON (what is stored and
    hashed): a page of rows then crosses a process boundary cheaply.

    Attributes:
        key: the key field's value as text.
        attrs_json: canonical JSON of the layer's attributes (sorted keys), as stored.
        attrs_hash: SHA-256 of ``attrs_json``.
        wkb: valid EPSG:4326 (multi)polygon, 2D little-endian WKB.
        geom_hash: SHA-256 of ``wkb``.
        h3: H3 cell of a point on the surface.
    """

    key: str
    attrs_json: str
    attrs_hash: str
    wkb: bytes
    geom_hash: str
    h3: str

    @property
    def attrs(self) -> dict[str, Any]:
        """The layer's attributes (parsed from ``attrs_json``)."""
        parsed: dict[str, Any] = json.loads(self.attrs_json)
        return parsed


@dataclass(frozen=True, slots=True)
class Rejection:
    """A feature left out, and why (``code`` is ``snake_case``; ``message`` one line)."""

    key: str | None
    index: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ProcessedPage:
    """What a page produced.

    Attributes:
        rows: clean features, one per key (duplicates resolved).
        rejected: features left out, with reasons.
        received: features the page held.
        duplicates: extra features with an already seen key (the last one wins).
        conflicts: duplicates whose content differed from the one they replaced.
        exceeded: the server said more features exist than the layer counted.
    """

    rows: list[FeatureRow]
    rejected: list[Rejection]
    received: int
    duplicates: int = 0
    conflicts: int = 0
    exceeded: bool = False


def feature_key(value: Any) -> str | None:
    """The text form of a key value (``41.0`` and ``41`` both give ``"41"``)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value) if value.is_integer() else value
    text = str(value).strip()
    return text or None


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def canonical_json(attrs: Mapping[str, Any]) -> str:
    """Sorted-key compact JSON; NaN and infinities become ``null`` (they are not JSON)."""
    text = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if "NaN" in text or "Infinity" in text:
        cleaned = {k: _finite(v) for k, v in attrs.items()}
        text = json.dumps(
            cleaned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    return text


@dataclass(frozen=True, slots=True)
class _Split:
    attrs: list[dict[str, Any]]
    geometries: list[Any]
    keys: list[str | None]
    rejected: dict[int, Rejected]


def _split_esri(page: RawPage) -> _Split:
    attrs, geometries, rejected = [], [], {}
    for index, feature in enumerate(page.features):
        values = feature.get("attributes") if isinstance(feature, dict) else None
        if not isinstance(values, dict):
            rejected[index] = Rejected(index, "invalid_feature", "feature has no attributes object")
            values = {}
        attrs.append(values)
        geometries.append(feature.get("geometry") if isinstance(feature, dict) else None)
    keys = [feature_key(a.get(page.key_field or "")) for a in attrs]
    if page.drop_fields:
        attrs = [{k: v for k, v in a.items() if k not in page.drop_fields} for a in attrs]
    return _Split(attrs, geometries, keys, rejected)


def _split_geojson(page: RawPage) -> _Split:
    attrs, geometries, keys, rejected = [], [], [], {}
    for index, item in enumerate(page.features):
        feature = item if isinstance(item, dict) and item.get("type") == "Feature" else {}
        if not feature:
            rejected[index] = Rejected(index, "invalid_feature", "not a GeoJSON Feature object")
        properties = feature.get("properties")
        values = dict(properties) if isinstance(properties, dict) else {}
        attrs.append(values)
        geometries.append(feature.get("geometry"))
        raw_key = values.get(page.key_field) if page.key_field else feature.get("id")
        keys.append(feature_key(raw_key))
    return _Split(attrs, geometries, keys, rejected)


def _choose_crs(page: RawPage, geometries: Any) -> str | None:
    # Some servers ignore outSR and omit spatialReference: their native CRS is
    # the only reading that makes sense of coordinates in the millions.
    if page.crs is None and page.fallback_crs and not looks_like_lonlat(geometries):
        return page.fallback_crs
    return page.crs


def _rejections(split: _Split, *groups: Sequence[Rejected]) -> dict[int, Rejection]:
    out: dict[int, Rejection] = {}
    for rejected in (split.rejected.values(), *groups):
        for r in rejected:
            out.setdefault(r.index, Rejection(split.keys[r.index], r.index, r.code, r.message))
    for index, key in enumerate(split.keys):
        if key is None and index not in out:
            out[index] = Rejection(None, index, "no_key", "feature has no key value")
    return out


def process_page(
    page: RawPage, h3_resolution: int = 9, rings: RingBlocks | None = None
) -> ProcessedPage:
    """Validate, reproject, repair and fingerprint every feature of a page.

    Args:
        page: the raw page.
        h3_resolution: resolution of each feature's H3 cell.
        rings: the page's Esri rings already read into arrays, when they were;
            each feature's geometry is then ``{"rings": block number}``.

    Returns:
        Clean rows (one per key) and the rejected features with their reasons.
    """
    split = _split_geojson(page) if page.format == "geojson" else _split_esri(page)
    if rings is None:
        built, unreadable = read_geometries(split.geometries, page.format)
    else:
        built, unreadable = read_esri_blocks(split.geometries, rings)
    cleaned = clean(built, _choose_crs(page, built))
    rejected = _rejections(split, unreadable, cleaned.rejected)
    good = [i for i in range(len(split.keys)) if i not in rejected]
    rows = _rows(split, cleaned.geometries[np.asarray(good, dtype=np.int64)], good, h3_resolution)
    unique, duplicates, conflicts = _dedupe(rows)
    return ProcessedPage(
        rows=unique,
        rejected=sorted(rejected.values(), key=lambda r: r.index),
        received=len(page.features),
        duplicates=duplicates,
        conflicts=conflicts,
        exceeded=page.exceeded,
    )


def _rows(split: _Split, geometries: Any, good: list[int], h3_resolution: int) -> list[FeatureRow]:
    if not good:
        return []
    wkb, geom_hashes = wkb_hashes(geometries)
    cells = h3_cells(geometries, h3_resolution)
    rows = []
    for n, index in enumerate(good):
        text = canonical_json(split.attrs[index])
        digest = hashlib.sha256(text.encode()).hexdigest()
        key = split.keys[index] or ""
        rows.append(FeatureRow(key, text, digest, wkb[n], geom_hashes[n], cells[n]))
    return rows


def _dedupe(rows: list[FeatureRow]) -> tuple[list[FeatureRow], int, int]:
    """One row per key, the last one winning, as a server's later answer would."""
    by_key: dict[str, FeatureRow] = {}
    conflicts = 0
    for row in rows:
        previous = by_key.get(row.key)
        if previous is not None and (previous.attrs_hash, previous.geom_hash) != (
            row.attrs_hash,
            row.geom_hash,
        ):
            conflicts += 1
        by_key[row.key] = row
    return list(by_key.values()), len(rows) - len(by_key), conflicts

"""``parcelflow export zoning``: current features as GeoJSON, JSON lines or CSV.

GeoJSON is written per RFC 7946: one ``FeatureCollection``, EPSG:4326 longitude
/latitude, no ``crs`` member, exterior rings counter-clockwise (the stored WKB is
already oriented so). Each feature's properties are the layer's attributes plus
``jurisdiction``, ``h3`` and ``sync_id`` (the sync that wrote this version).
JSON lines hold one such Feature per line; CSV holds the attributes as columns
and the geometry as full-precision WKT. Output is streamed in batches.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Literal, TextIO

import numpy as np
import shapely  # type: ignore[import-untyped]
import sqlalchemy as sa

from parcelflow.errors import ConfigError
from parcelflow.pipelines.zoning.store import StoredFeature, iter_current

__all__ = ["ExportFormat", "export_features"]

ExportFormat = Literal["geojson", "jsonl", "csv"]
_BATCH = 1000
_OURS = ("jurisdiction", "h3", "sync_id")


def _batches(items: Iterable[StoredFeature]) -> Iterator[list[StoredFeature]]:
    iterator = iter(items)
    while batch := list(islice(iterator, _BATCH)):
        yield batch


def _properties(feature: StoredFeature) -> dict[str, Any]:
    return {
        **feature.attrs,
        "jurisdiction": feature.jurisdiction,
        "h3": feature.h3,
        "sync_id": feature.sync_id,
    }


def _feature_texts(batch: list[StoredFeature]) -> list[str]:
    geometries = shapely.from_wkb([f.wkb for f in batch])
    texts = shapely.to_geojson(np.asarray(geometries, dtype=object))
    return [
        f'{{"type":"Feature","id":{json.dumps(f.key)},"geometry":{geometry},'
        f'"properties":{json.dumps(_properties(f), ensure_ascii=False)}}}'
        for f, geometry in zip(batch, texts.tolist(), strict=True)
    ]


def _write_geojson(features: Iterable[StoredFeature], out: TextIO) -> int:
    out.write('{"type":"FeatureCollection","features":[\n')
    written = 0
    for batch in _batches(features):
        for text in _feature_texts(batch):
            out.write((",\n" if written else "") + text)
            written += 1
    out.write("\n]}\n")
    return written


def _write_jsonl(features: Iterable[StoredFeature], out: TextIO) -> int:
    written = 0
    for batch in _batches(features):
        for text in _feature_texts(batch):
            out.write(text + "\n")
            written += 1
    return written


def _attribute_names(conn: sa.Connection, jurisdiction: str | None, layer: str | None) -> list[str]:
    names: dict[str, None] = {}
    for feature in iter_current(conn, jurisdiction, layer):
        names.update(dict.fromkeys(feature.attrs))
    return [n for n in names if n not in _OURS]


def _write_csv(
    conn: sa.Connection, jurisdiction: str | None, layer: str | None, out: TextIO
) -> int:
    # Two passes: CSV needs every column name before the first row.
    names = _attribute_names(conn, jurisdiction, layer)
    writer = csv.writer(out)
    writer.writerow(["jurisdiction", "layer", "key", "sync_id", "h3", *names, "geometry_wkt"])
    written = 0
    for batch in _batches(iter_current(conn, jurisdiction, layer)):
        wkt = shapely.to_wkt(shapely.from_wkb([f.wkb for f in batch]), rounding_precision=-1)
        for f, text in zip(batch, wkt.tolist(), strict=True):
            values = [f.attrs.get(n) for n in names]
            writer.writerow([f.jurisdiction, f.layer, f.key, f.sync_id, f.h3, *values, text])
            written += 1
    return written


def export_features(
    conn: sa.Connection,
    fmt: ExportFormat,
    out: TextIO,
    *,
    jurisdiction: str | None = None,
    layer: str | None = None,
) -> int:
    """Write the current zoning features to ``out``; return how many.

    Raises:
        ConfigError: an unknown format.
    """
    if fmt == "geojson":
        return _write_geojson(iter_current(conn, jurisdiction, layer), out)
    if fmt == "jsonl":
        return _write_jsonl(iter_current(conn, jurisdiction, layer), out)
    if fmt == "csv":
        return _write_csv(conn, jurisdiction, layer, out)
    raise ConfigError(f"unknown export format {fmt!r}; use geojson, jsonl or csv")

"""The change report of ``parcelflow zoning changes``: read two syncs, diff, format.

By default each layer's last two finished syncs are compared; ``since`` compares
that sync with the layer's last. The object-id field and geometry-derived fields
(``Shape_Area``, ``SHAPE.STLength()``…) are left out of attribute comparisons:
servers renumber and recompute them without anything having changed.

Formats: ``json`` (one document), ``geojson`` (one feature per change, with the
geometry after the change, or before it for removals), ``csv`` (one row per
changed field, or per change when no field changed).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import shapely  # type: ignore[import-untyped]
import sqlalchemy as sa

from parcelflow.errors import ConfigError
from parcelflow.pipelines.zoning import store
from parcelflow.pipelines.zoning.diff import Change, counts, diff
from parcelflow.pipelines.zoning.normalize import shape_metric_fields
from parcelflow.pipelines.zoning.options import ZoningOptions

__all__ = ["LayerChanges", "ReportFormat", "change_report", "write_report"]

ReportFormat = Literal["json", "geojson", "csv"]


@dataclass(frozen=True, slots=True)
class LayerChanges:
    """Changes of one layer between two syncs."""

    jurisdiction: str
    layer: str
    from_sync: int
    to_sync: int
    changes: list[Change]

    @property
    def counts(self) -> dict[str, int]:
        """Changes per kind."""
        return counts(self.changes)


def _layers(
    conn: sa.Connection, jurisdiction: str | None, since: int | None
) -> list[tuple[str, str]]:
    if since is not None:
        sync = store.get_sync(conn, since)
        return [(sync.jurisdiction, sync.layer)]
    seen = {(s.jurisdiction, s.layer): None for s in store.list_syncs(conn, jurisdiction)}
    return list(seen)


def _ignored(sync: store.SyncInfo, before: Iterable[Any], after: Iterable[Any]) -> frozenset[str]:
    names: set[str] = set()
    for state in (*before, *after):
        names.update(state.attrs)
    ignored = shape_metric_fields(names)
    if sync.object_id_field and sync.object_id_field != sync.key_field:
        ignored.add(sync.object_id_field)
    return frozenset(ignored)


def _layer_changes(
    conn: sa.Connection, options: ZoningOptions, pair: tuple[store.SyncInfo, store.SyncInfo]
) -> LayerChanges:
    old, new = pair
    before, after = store.changed_states(
        conn, new.jurisdiction, new.layer, old.sync_id, new.sync_id
    )
    ignored = _ignored(new, before.values(), after.values())
    settings = options.diff_settings(new.key_field, ignored)
    changes = diff(before, after, settings) if old.sync_id != new.sync_id else []
    return LayerChanges(new.jurisdiction, new.layer, old.sync_id, new.sync_id, changes)


def change_report(
    conn: sa.Connection,
    options: ZoningOptions | None = None,
    *,
    jurisdiction: str | None = None,
    since: int | None = None,
) -> list[LayerChanges]:
    """Changes per layer between two syncs.

    Args:
        conn: a connection to the zoning store.
        options: zoning field, reshape tolerance and normalisers.
        jurisdiction: only this jurisdiction's layers.
        since: compare this sync with its layer's last one.

    Raises:
        ConfigError: no layer has two finished syncs to compare, or ``since`` is unknown.
    """
    options = options or ZoningOptions()
    reports = []
    for juris, layer in _layers(conn, jurisdiction, since):
        pair = store.sync_pair(conn, juris, layer, since)
        if pair is not None:
            reports.append(_layer_changes(conn, options, pair))
    if not reports:
        where = f" of {jurisdiction}" if jurisdiction else ""
        raise ConfigError(f"no layer{where} has two finished syncs to compare; run a sync first")
    return reports


def _geometry(wkb: bytes | None) -> Any:
    return json.loads(shapely.to_geojson(shapely.from_wkb(wkb))) if wkb else None


def _change_json(change: Change) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": change.kind, "key": change.key}
    if change.new_key is not None:
        body["new_key"] = change.new_key
    body["before"] = change.before
    body["after"] = change.after
    if change.fields:
        body["fields"] = {k: {"before": a, "after": b} for k, (a, b) in change.fields.items()}
    if change.distance_m is not None:
        body["distance_m"] = round(change.distance_m, 3)
    return body


def _layer_json(report: LayerChanges) -> dict[str, Any]:
    return {
        "jurisdiction": report.jurisdiction,
        "layer": report.layer,
        "from_sync": report.from_sync,
        "to_sync": report.to_sync,
        "counts": report.counts,
        "changes": [_change_json(c) for c in report.changes],
    }


def _write_json(reports: Sequence[LayerChanges], out: TextIO) -> None:
    json.dump({"layers": [_layer_json(r) for r in reports]}, out, indent=2, default=str)
    out.write("\n")


def _write_geojson(reports: Sequence[LayerChanges], out: TextIO) -> None:
    features = []
    for report in reports:
        for change in report.changes:
            properties = _change_json(change)
            properties |= {"jurisdiction": report.jurisdiction, "layer": report.layer}
            properties |= {"from_sync": report.from_sync, "to_sync": report.to_sync}
            geometry = _geometry(change.wkb_after or change.wkb_before)
            features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    json.dump({"type": "FeatureCollection", "features": features}, out, default=str)
    out.write("\n")


_CSV_COLUMNS = ["jurisdiction", "layer", "from_sync", "to_sync", "kind", "key", "new_key"]
_CSV_COLUMNS += ["field", "before", "after", "distance_m"]


def _csv_rows(report: LayerChanges, change: Change) -> Iterable[list[Any]]:
    head = [report.jurisdiction, report.layer, report.from_sync, report.to_sync]
    head += [change.kind, change.key, change.new_key or ""]
    distance = "" if change.distance_m is None else round(change.distance_m, 3)
    if not change.fields:
        yield [*head, "", "", "", distance]
    for name, (before, after) in change.fields.items():
        yield [*head, name, before, after, distance]


def _write_csv(reports: Sequence[LayerChanges], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for report in reports:
        for change in report.changes:
            writer.writerows(_csv_rows(report, change))


def write_report(reports: Sequence[LayerChanges], fmt: ReportFormat, out: TextIO) -> None:
    """Write ``reports`` to ``out`` as ``json``, ``geojson`` or ``csv``."""
    writers = {"json": _write_json, "geojson": _write_geojson, "csv": _write_csv}
    if fmt not in writers:
        raise ConfigError(f"unknown report format {fmt!r}; use json, geojson or csv")
    writers[fmt](reports, out)

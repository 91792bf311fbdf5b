"""A real ArcGIS REST feature layer on loopback, serving a GeoJSON snapshot.

It answers the way an ArcGIS Server feature layer does, over real HTTP (a
stdlib ``ThreadingHTTPServer`` in a daemon thread, HTTP/1.1 keep-alive), under
``/arcgis/rest/services/Zoning``::

    GET  .../FeatureServer?f=json          the service (not a layer)
    GET  .../FeatureServer/0?f=json        layer metadata
    GET  .../FeatureServer/0/query?...     where=1=1, returnCountOnly, returnIdsOnly,
    POST .../FeatureServer/0/query         objectIds, resultOffset/resultRecordCount,
                                           orderByFields, outSR, f=json|geojson
    GET  /data/zoning.geojson              the snapshot as a GeoJSON file

Geometry is served in the layer's native CRS (EPSG:2227, US survey feet, as San
Jose publishes it) unless ``outSR`` asks otherwise, with Esri ring orientation
(shells clockwise). Pages are capped at ``max_record_count`` and flagged with
``exceededTransferLimit`` when more features follow. ``legacy=True`` imitates a
10.2 server: no pagination, no ``objectIdField`` key, only the OID-typed field.

Faults are injected per request kind (:class:`Fault`): 429 with ``Retry-After``,
503, an ``error`` object inside a 200, an HTML 200, a reset connection, a slow
answer. Every request is logged (:attr:`ArcGISServer.requests`) so tests can
count attempts. Run ``python -m parcelflow.testing.arcgis_server SNAPSHOT`` to
serve one from the command line.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pyproj
import shapely  # type: ignore[import-untyped]

__all__ = ["ArcGISServer", "Fault", "FaultKind", "RequestKind", "RequestRecord", "serve"]

FaultKind = Literal["429", "503", "error200", "html", "reset", "slow"]
RequestKind = Literal["service", "metadata", "count", "ids", "page", "geojson", "other"]
SERVICE_PATH = "/arcgis/rest/services/Zoning/FeatureServer"
LAYER_PATH = SERVICE_PATH + "/0"
GEOJSON_PATH = "/data/zoning.geojson"
NATIVE_WKID = 2227
_XY_DECIMALS = 4
OID = "OBJECTID"
_ESRI_TYPES = {bool: "esriFieldTypeSmallInteger", int: "esriFieldTypeInteger"}
_ESRI_TYPES |= {float: "esriFieldTypeDouble", str: "esriFieldTypeString"}


@dataclass
class Fault:
    """A failure to serve instead of an answer.

    Attributes:
        kind: what goes wrong.
        on: the request kind it hits.
        times: how many matching requests it hits.
        offset: only pages with this ``resultOffset`` (``None``: any).
        retry_after: ``Retry-After`` seconds sent with a 429 (``None``: no header).
        delay: seconds a ``slow`` answer waits before being sent.
    """

    kind: FaultKind
    on: RequestKind = "page"
    times: int = 1
    offset: int | None = None
    retry_after: float | None = 1.0
    delay: float = 2.0

    def matches(self, kind: RequestKind, params: Mapping[str, str]) -> bool:
        """Does this fault hit a request of ``kind`` with ``params``?"""
        if self.times <= 0 or kind != self.on:
            return False
        return self.offset is None or params.get("resultOffset") == str(self.offset)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server received, and the fault it got (if any)."""

    method: str
    path: str
    kind: RequestKind
    params: dict[str, str]
    fault: FaultKind | None


@dataclass
class _Layer:
    """A loaded snapshot: attributes and native geometry, by object id."""

    attributes: list[dict[str, Any]]
    native: np.ndarray[Any, np.dtype[np.object_]]
    fields: list[dict[str, Any]]
    geojson: bytes
    rings_by_sr: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)


def _field_list(attributes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    types: dict[str, str] = {}
    for attrs in attributes:
        for name, value in attrs.items():
            if value is not None and name not in types:
                types[name] = _ESRI_TYPES.get(type(value), "esriFieldTypeString")
    fields = [{"name": OID, "type": "esriFieldTypeOID", "alias": OID}]
    fields += [{"name": n, "type": t, "alias": n} for n, t in types.items() if n != OID]
    return fields


def _copies(
    features: list[dict[str, Any]], copies: int, key_field: str | None
) -> list[dict[str, Any]]:
    """The snapshot repeated ``copies`` times, shifted east, keys made unique (for benchmarks)."""
    out = list(features)
    for copy in range(1, copies):
        for feature in features:
            props = dict(feature.get("properties") or {})
            if key_field and isinstance(props.get(key_field), int):
                props[key_field] += copy * 1_000_000
            elif key_field and key_field in props:
                props[key_field] = f"{props[key_field]}-{copy}"
            geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
            moved = shapely.transform(geometry, lambda c, k=copy: c + np.array([0.25 * k, 0.0]))
            shifted = json.loads(shapely.to_geojson(moved))
            out.append({"type": "Feature", "properties": props, "geometry": shifted})
    return out


def _load(snapshot: Path | Mapping[str, Any], copies: int, key_field: str | None) -> _Layer:
    key = _layer_key(snapshot, copies, key_field)
    with _LAYERS_LOCK:
        cached = _LAYERS.get(key)
        if cached is not None:
            _LAYERS.move_to_end(key)
            return cached[1]
    layer = _build_layer(snapshot, copies, key_field)
    with _LAYERS_LOCK:
        # The snapshot is kept with its layer, so its id() cannot be reused meanwhile.
        _LAYERS[key] = (snapshot, layer)
        while len(_LAYERS) > 6:
            _LAYERS.popitem(last=False)
    return layer


def _layer_key(snapshot: Path | Mapping[str, Any], copies: int, key_field: str | None) -> Any:
    if isinstance(snapshot, Path):
        stat = snapshot.stat()
        return (str(snapshot.resolve()), stat.st_mtime_ns, stat.st_size, copies, key_field)
    return (id(snapshot), len(snapshot.get("features") or ()), copies, key_field)


# Loaded layers, shared by servers of the same snapshot (tests start many servers).
_LAYERS: OrderedDict[Any, tuple[Any, _Layer]] = OrderedDict()
_LAYERS_LOCK = threading.Lock()


def _build_layer(snapshot: Path | Mapping[str, Any], copies: int, key_field: str | None) -> _Layer:
    doc = json.loads(Path(snapshot).read_bytes()) if isinstance(snapshot, Path) else dict(snapshot)
    features = _copies(list(doc["features"]), copies, key_field)
    attributes = [{OID: i + 1, **(f.get("properties") or {})} for i, f in enumerate(features)]
    lonlat = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    to_native = pyproj.Transformer.from_crs(4326, NATIVE_WKID, always_xy=True)
    native = _transform(np.asarray(lonlat, dtype=object), to_native)
    # A geodatabase stores coordinates on its XY-resolution grid (0.0001 ft here).
    native = shapely.transform(native, lambda c: np.round(c, _XY_DECIMALS))
    text = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    layer = _Layer(attributes, native, _field_list(attributes), text)
    for wkid in (NATIVE_WKID, 4326):  # the two every client asks for, computed once
        layer.rings_by_sr[str(wkid)] = _rings_in(native, wkid)
    return layer


def _rings_in(native: Any, wkid: int) -> list[dict[str, Any] | None]:
    geometries = native
    if wkid != NATIVE_WKID:
        to_wkid = pyproj.Transformer.from_crs(NATIVE_WKID, wkid, always_xy=True)
        geometries = _transform(native, to_wkid)
    return _esri_rings(geometries)


def _transform(geometries: Any, transformer: pyproj.Transformer) -> Any:
    def apply(coords: Any) -> Any:
        return np.column_stack(transformer.transform(coords[:, 0], coords[:, 1]))

    return shapely.transform(geometries, apply)


def _esri_rings(geometries: Any) -> list[dict[str, Any] | None]:
    """Esri JSON polygons: every ring listed flat, shells clockwise, holes counter-clockwise."""
    oriented = shapely.orient_polygons(geometries, exterior_cw=True)
    out: list[dict[str, Any] | None] = []
    for text in shapely.to_geojson(oriented).tolist():
        shape = json.loads(text) if text else None
        if not shape:
            out.append(None)
            continue
        polygons = [shape["coordinates"]] if shape["type"] == "Polygon" else shape["coordinates"]
        out.append({"rings": [ring for polygon in polygons for ring in polygon]})
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is kept as data instead."""

    def do_GET(self) -> None:
        """Answer a GET request."""
        parts = urlsplit(self.path)
        self._answer(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))

    def do_POST(self) -> None:
        """Answer a POST (form-encoded) request."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params |= dict(parse_qsl(body, keep_blank_values=True))
        self._answer(parts.path, params)

    def _answer(self, path: str, params: dict[str, str]) -> None:
        app = self.server.app
        kind = app.kind_of(path, params)
        fault = app.take_fault(kind, params)
        app.log(RequestRecord(self.command, path, kind, params, fault.kind if fault else None))
        if fault is not None and self._fail(fault):
            return
        status, content_type, body, headers = app.respond(kind, path, params)
        self._send(status, content_type, body, headers)

    def _fail(self, fault: Fault) -> bool:
        if fault.kind == "slow":
            time.sleep(fault.delay)  # a real slow server: the client's timeout must fire
            return False
        if fault.kind == "reset":
            self._reset()
        elif fault.kind == "429":
            headers = (
                {"Retry-After": str(int(fault.retry_after))}
                if fault.retry_after is not None
                else {}
            )
            self._send(
                429,
                "application/json",
                b'{"error":{"code":429,"message":"Too many requests"}}',
                headers,
            )
        elif fault.kind == "503":
            self._send(503, "text/html", b"<html><body>503 Service Unavailable</body></html>", {})
        elif fault.kind == "error200":
            body = (
                b'{"error":{"code":500,"message":"Error performing query operation","details":[]}}'
            )
            self._send(200, "application/json", body, {})
        else:
            self._send(
                200,
                "text/html",
                b"<!DOCTYPE html><html><body>Down for maintenance</body></html>",
                {},
            )
        return True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _send(
        self, status: int, content_type: str, body: bytes, headers: Mapping[str, str]
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first (a slow fault)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: ArcGISServer) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections the client dropped mid-answer are expected here, not news."""


class ArcGISServer:
    """A loopback ArcGIS feature layer serving a GeoJSON snapshot.

    Args:
        snapshot: a GeoJSON file (or its parsed mapping) in EPSG:4326.
        max_record_count: the layer's ``maxRecordCount``.
        legacy: imitate a 10.2 server (no pagination, no ``objectIdField``).
        honour_out_sr: when false, ``outSR`` is ignored (a real server quirk).
        wkt_spatial_reference: describe the CRS as WKT instead of a wkid.
        served_max: the real cap on a page when lower than the advertised
            ``maxRecordCount`` (servers that cap silently); ``None``: the same.
        count_bias: added to every ``returnCountOnly`` answer (a count that
            disagrees with the data, as Kent County's does).
        copies: repeat the snapshot, shifted, with unique keys (benchmarks).
        key_field: the attribute made unique in the copies.
        host: interface to bind (loopback).
        port: port to bind (0: any free one).
    """

    def __init__(
        self,
        snapshot: Path | Mapping[str, Any],
        *,
        max_record_count: int = 200,
        legacy: bool = False,
        honour_out_sr: bool = True,
        wkt_spatial_reference: bool = False,
        served_max: int | None = None,
        count_bias: int = 0,
        copies: int = 1,
        key_field: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.max_record_count = max_record_count
        self.legacy = legacy
        self.honour_out_sr = honour_out_sr
        self.wkt_spatial_reference = wkt_spatial_reference
        self.served_max = served_max or max_record_count
        self.count_bias = count_bias
        self.copies = copies
        self.key_field = key_field
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], tuple[int, str, bytes, dict[str, str]]] = (
            OrderedDict()
        )
        self._layer = _load(snapshot, copies, key_field)
        self._httpd = _Server((host, port), self)
        # A short poll interval: shutdown() waits for the next poll to notice.
        serve = lambda: self._httpd.serve_forever(poll_interval=0.02)  # noqa: E731
        self._thread = threading.Thread(target=serve, daemon=True)

    # --- lifecycle ---

    def start(self) -> ArcGISServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ArcGISServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def layer_url(self) -> str:
        """The layer (``.../FeatureServer/0``)."""
        return self.base_url + LAYER_PATH

    @property
    def service_url(self) -> str:
        """The feature service (not a layer)."""
        return self.base_url + SERVICE_PATH

    @property
    def geojson_url(self) -> str:
        """The snapshot as a GeoJSON document."""
        return self.base_url + GEOJSON_PATH

    @property
    def feature_count(self) -> int:
        """Features the layer holds."""
        return len(self._layer.attributes)

    # --- control ---

    def load(self, snapshot: Path | Mapping[str, Any]) -> None:
        """Serve another snapshot from now on (object ids are reassigned, as on a reload)."""
        layer = _load(snapshot, self.copies, self.key_field)
        with self._lock:
            self._layer = layer
            self._cache.clear()

    def inject(self, *faults: Fault) -> None:
        """Add faults; each hits its next ``times`` matching requests."""
        with self._lock:
            self.faults.extend(faults)

    def clear(self) -> None:
        """Forget faults and the request log."""
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def count(self, kind: RequestKind | None = None, fault: FaultKind | None = None) -> int:
        """Requests received of ``kind`` (and answered with ``fault``)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (kind is None or r.kind == kind) and (fault is None or r.fault == fault)
            )

    # --- used by the handler threads ---

    def log(self, record: RequestRecord) -> None:
        """Append to the request log."""
        with self._lock:
            self.requests.append(record)

    def take_fault(self, kind: RequestKind, params: Mapping[str, str]) -> Fault | None:
        """The fault this request gets, if any (consumes one of its ``times``)."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(kind, params):
                    fault.times -= 1
                    return fault
        return None

    def kind_of(self, path: str, params: Mapping[str, str]) -> RequestKind:
        """Classify a request by path and parameters."""
        path = path.rstrip("/")
        if path == SERVICE_PATH:
            return "service"
        if path == LAYER_PATH:
            return "metadata"
        if path == GEOJSON_PATH:
            return "geojson"
        if path != LAYER_PATH + "/query":
            return "other"
        if _true(params.get("returnCountOnly")):
            return "count"
        if _true(params.get("returnIdsOnly")):
            return "ids"
        return "page"

    def respond(
        self, kind: RequestKind, path: str, params: Mapping[str, str]
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """Status, content type, body and headers for a request."""
        key = (kind, tuple(sorted(params.items())))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        answer = self._respond(kind, params)
        with self._lock:
            self._cache[key] = answer
            while len(self._cache) > 512:
                self._cache.popitem(last=False)
        return answer

    def _respond(
        self, kind: RequestKind, params: Mapping[str, str]
    ) -> tuple[int, str, bytes, dict[str, str]]:
        if kind == "geojson":
            return 200, "application/geo+json", self._layer.geojson, {}
        if kind == "service":
            return _json({"currentVersion": 10.91, "layers": [{"id": 0, "name": "Zoning"}]})
        if kind == "metadata":
            return _json(self._metadata())
        if kind == "other":
            # ArcGIS answers unknown URLs with HTTP 200 and an error object.
            return _json(
                {"error": {"code": 400, "message": "Invalid URL", "details": ["Invalid URL"]}}
            )
        return _json(self._query(kind, params))

    def _spatial_reference(self, wkid: int) -> dict[str, Any]:
        if self.wkt_spatial_reference:
            return {"wkt": pyproj.CRS.from_epsg(wkid).to_wkt("WKT1_ESRI")}
        return {"wkid": wkid, "latestWkid": wkid}

    def _metadata(self) -> dict[str, Any]:
        native = shapely.total_bounds(self._layer.native).tolist()
        meta: dict[str, Any] = {
            "currentVersion": 10.2 if self.legacy else 10.91,
            "id": 0,
            "name": "Zoning",
            "type": "Feature Layer",
            "geometryType": "esriGeometryPolygon",
            "capabilities": "Query",
            "maxRecordCount": self.max_record_count,
            "supportedQueryFormats": "JSON, geoJSON",
            "extent": dict(
                zip(("xmin", "ymin", "xmax", "ymax"), native, strict=True),
                spatialReference=self._spatial_reference(NATIVE_WKID),
            ),
            "fields": self._layer.fields,
        }
        if not self.legacy:
            meta["objectIdField"] = OID
            meta["advancedQueryCapabilities"] = {
                "supportsPagination": True,
                "supportsOrderBy": True,
            }
        return meta

    def _selected(self, params: Mapping[str, str]) -> list[int]:
        """0-based positions of the features a query selects, in object-id order."""
        positions = list(range(len(self._layer.attributes)))
        ids = params.get("objectIds")
        if ids:
            wanted = {int(i) for i in ids.split(",") if i.strip()}
            positions = [p for p in positions if p + 1 in wanted]
        if params.get("orderByFields", "").strip().upper().endswith("DESC"):
            positions.reverse()
        return positions

    def _page(self, positions: list[int], params: Mapping[str, str]) -> tuple[list[int], bool]:
        offset = int(params.get("resultOffset") or 0) if not self.legacy else 0
        wanted = int(params.get("resultRecordCount") or self.max_record_count)
        size = min(wanted, self.served_max) if not self.legacy else self.served_max
        page = positions[offset : offset + size]
        return page, offset + len(page) < len(positions)

    def _query(self, kind: RequestKind, params: Mapping[str, str]) -> dict[str, Any]:
        where = params.get("where", "1=1").replace(" ", "")
        if where not in {"1=1", ""}:
            return {
                "error": {"code": 400, "message": "Unable to complete operation.", "details": []}
            }
        positions = self._selected(params)
        if kind == "count":
            return {"count": max(0, len(positions) + self.count_bias)}
        if kind == "ids":
            return {"objectIdFieldName": OID, "objectIds": [p + 1 for p in positions]}
        page, exceeded = self._page(positions, params)
        if params.get("f") == "geojson":
            return self._geojson_page(page, exceeded)
        return self._esri_page(page, exceeded, params)

    def _out_wkid(self, params: Mapping[str, str]) -> int:
        raw = params.get("outSR", "").strip()
        if not raw or not self.honour_out_sr:
            return NATIVE_WKID
        if raw.startswith("{"):
            parsed = json.loads(raw)
            return int(parsed.get("latestWkid") or parsed.get("wkid"))
        return int(raw)

    def _rings(self, wkid: int) -> list[dict[str, Any] | None]:
        layer = self._layer
        with self._lock:
            rings = layer.rings_by_sr.get(str(wkid))
        if rings is None:
            rings = _rings_in(layer.native, wkid)
            with self._lock:
                layer.rings_by_sr[str(wkid)] = rings
        return rings

    def _esri_page(
        self, page: list[int], exceeded: bool, params: Mapping[str, str]
    ) -> dict[str, Any]:
        wkid = self._out_wkid(params)
        rings = self._rings(wkid) if _true(params.get("returnGeometry", "true")) else None
        features = [
            {"attributes": self._layer.attributes[p], **({"geometry": rings[p]} if rings else {})}
            for p in page
        ]
        body: dict[str, Any] = {
            "objectIdFieldName": OID,
            "geometryType": "esriGeometryPolygon",
            "spatialReference": self._spatial_reference(wkid),
            "fields": self._layer.fields,
            "features": features,
        }
        if exceeded:
            body["exceededTransferLimit"] = True
        return body

    def _geojson_page(self, page: list[int], exceeded: bool) -> dict[str, Any]:
        # f=geojson answers are always WGS84 longitude/latitude (RFC 7946).
        to_wgs84 = pyproj.Transformer.from_crs(NATIVE_WKID, 4326, always_xy=True)
        geometries = _transform(self._layer.native[page], to_wgs84)
        texts = shapely.to_geojson(geometries).tolist() if page else []
        features = [
            {
                "type": "Feature",
                "id": p + 1,
                "geometry": json.loads(text),
                "properties": self._layer.attributes[p],
            }
            for p, text in zip(page, texts, strict=True)
        ]
        body: dict[str, Any] = {"type": "FeatureCollection", "features": features}
        if exceeded:
            body["exceededTransferLimit"] = True
        return body


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _json(doc: Any) -> tuple[int, str, bytes, dict[str, str]]:
    return 200, "application/json; charset=utf-8", json.dumps(doc).encode(), {}


@contextmanager
def serve(snapshot: Path | Mapping[str, Any], **options: Any) -> Iterator[ArcGISServer]:
    """Serve ``snapshot`` for the duration of a ``with`` block."""
    server = ArcGISServer(snapshot, **options)
    with server:
        yield server


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a snapshot until interrupted; print the layer URL on the first line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-record-count", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--key-field", default=None)
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--ignore-out-sr", action="store_true")
    args = parser.parse_args(argv)
    server = ArcGISServer(
        args.snapshot,
        max_record_count=args.max_record_count,
        legacy=args.legacy,
        honour_out_sr=not args.ignore_out_sr,
        copies=args.copies,
        key_field=args.key_field,
        port=args.port,
    )
    with server:
        print(server.layer_url, flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
    sys.exit(0)


if __name__ == "__main__":
    main()

"""ArcGIS REST feature layers: metadata, counts, object ids and page planning.

Planning is pure: functions take parsed server answers and return
:class:`~parcelflow.sources.http.Request` descriptions, one per page, so a page
can be a durable job with a deterministic key. Only :func:`describe_layer`,
:func:`plan_layer` and :func:`fetch_page` talk to the network.

How a layer is read, and the server behaviour behind each rule:

* ``{layer}?f=json`` gives ``maxRecordCount`` (the server silently caps any
  page at it), the object-id field (``objectIdField``, or the field of type
  ``esriFieldTypeOID`` on servers before 10.1) and pagination support
  (``advancedQueryCapabilities.supportsPagination``, ArcGIS Server 10.3+).
* ``returnCountOnly=true`` gives the count the finished sync is checked against.
* With pagination and ``orderByFields`` support, pages are
  ``resultOffset``/``resultRecordCount`` ordered by the object id (without an
  order, offsets are not stable between requests).
* Otherwise ``returnIdsOnly=true`` lists the ids, and each page POSTs a chunk of
  them as ``objectIds`` (POST because long query strings hit URL length limits).
* A page is complete when it holds what was asked for. A shorter answer with
  ``exceededTransferLimit: true`` was capped by the server, so the rest is asked
  for again; a short page alone is never taken as the end of the layer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from parcelflow.errors import ConfigError, PermanentError, TransientError
from parcelflow.sources.http import HttpClient, Request, decode_json, error_in_body

__all__ = [
    "DEFAULT_MAX_RECORD_COUNT",
    "LayerInfo",
    "LayerPage",
    "LayerPlan",
    "PageAnswers",
    "QueryPage",
    "Strategy",
    "choose_strategy",
    "count_request",
    "crs_of",
    "describe_layer",
    "fetch_answers",
    "fetch_page",
    "ids_request",
    "is_layer_url",
    "layer_url",
    "metadata_request",
    "page_size",
    "parse_answers",
    "parse_count",
    "parse_ids",
    "parse_layer_metadata",
    "parse_query_response",
    "plan_id_pages",
    "plan_layer",
    "plan_offset_pages",
    "scan_answer",
]

Strategy = Literal["offset", "ids"]
# ArcGIS Server's default maxRecordCount, assumed when a layer does not say.
DEFAULT_MAX_RECORD_COUNT = 1000
_LAYER_PATH = re.compile(r"/(?:FeatureServer|MapServer)/\d+$", re.IGNORECASE)
_SERVICE_PATH = re.compile(r"/(?:FeatureServer|MapServer)$", re.IGNORECASE)
_QUERY_PARAMS = (("outFields", "*"), ("returnGeometry", "true"), ("outSR", "4326"))


def is_layer_url(url: str) -> bool:
    """Does ``url`` name an ArcGIS REST layer (``.../FeatureServer/N`` or ``.../MapServer/N``)?"""
    parts = urlsplit(url.strip())
    return parts.scheme in {"http", "https"} and bool(_LAYER_PATH.search(parts.path.rstrip("/")))


def layer_url(url: str) -> str:
    """The canonical layer URL (no query, no trailing slash, lower-case host).

    Raises:
        ConfigError: ``url`` is a service or something else, not a layer.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if parts.scheme in {"http", "https"} and _SERVICE_PATH.search(path):
        raise ConfigError(f"{url} is a service, not a layer: append the layer number, e.g. /0")
    if not is_layer_url(url):
        raise ConfigError(f"{url} is not an ArcGIS layer URL (.../FeatureServer/N or /MapServer/N)")
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """What the layer's metadata says about reading it.

    Attributes:
        url: canonical layer URL.
        name: the layer's name.
        geometry_type: e.g. ``esriGeometryPolygon``.
        object_id_field: the ``esriFieldTypeOID`` field.
        max_record_count: the most features one query returns.
        supports_pagination: ``resultOffset`` / ``resultRecordCount`` work.
        supports_order_by: ``orderByFields`` works (needed for stable offsets).
        fields: attribute names in the server's order.
        native_crs: the layer's own CRS (``EPSG:2227`` or WKT), if it says.
    """

    url: str
    name: str
    geometry_type: str
    object_id_field: str
    max_record_count: int
    supports_pagination: bool
    supports_order_by: bool
    fields: tuple[str, ...]
    native_crs: str | None


def metadata_request(url: str) -> Request:
    """The request for a layer's metadata (``?f=json``)."""
    return Request("GET", layer_url(url), (("f", "json"),))


def count_request(url: str) -> Request:
    """The request for the layer's feature count."""
    params = (("where", "1=1"), ("returnCountOnly", "true"), ("f", "json"))
    return Request("GET", layer_url(url) + "/query", params)


def ids_request(url: str) -> Request:
    """The request for every object id of the layer."""
    params = (("where", "1=1"), ("returnIdsOnly", "true"), ("f", "json"))
    return Request("GET", layer_url(url) + "/query", params)


def crs_of(spatial_reference: Any) -> str | None:
    """A pyproj-readable CRS from an Esri ``spatialReference`` object.

    ``latestWkid`` wins over ``wkid`` (``102100`` answers ``latestWkid: 3857``);
    Esri's own codes (wkid above 100000 without a latest) become ``ESRI:N``;
    some servers send only ``wkt`` (Kent County, MI does).
    """
    if not isinstance(spatial_reference, Mapping):
        return None
    wkid = spatial_reference.get("latestWkid") or spatial_reference.get("wkid")
    if isinstance(wkid, int):
        return f"ESRI:{wkid}" if wkid > 100000 else f"EPSG:{wkid}"
    wkt = spatial_reference.get("wkt")
    return wkt if isinstance(wkt, str) and wkt.strip() else None


def _object_id_field(doc: Mapping[str, Any]) -> str | None:
    declared = doc.get("objectIdField")
    if isinstance(declared, str) and declared:
        return declared
    for entry in doc.get("fields") or ():
        if isinstance(entry, Mapping) and entry.get("type") == "esriFieldTypeOID":
            return str(entry.get("name"))
    return None


def _capability(doc: Mapping[str, Any], name: str) -> bool:
    advanced = doc.get("advancedQueryCapabilities")
    if isinstance(advanced, Mapping) and name in advanced:
        return bool(advanced[name])
    return bool(doc.get(name, False))


def _require_layer(url: str, doc: Any) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise PermanentError(f"{url}: metadata is not a JSON object", code="not_a_layer")
    if "layers" in doc and "fields" not in doc:
        raise PermanentError(f"{url} is a service, not a layer", code="not_a_layer")
    if not isinstance(doc.get("fields"), list) or "geometryType" not in doc:
        kind = doc.get("type", "unknown")
        raise PermanentError(f"{url} is not a feature layer (type {kind})", code="not_a_layer")
    capabilities = str(doc.get("capabilities", "Query"))
    if "query" not in capabilities.lower():
        raise PermanentError(f"{url} does not allow queries", code="not_queryable")
    return doc


def parse_layer_metadata(url: str, doc: Any) -> LayerInfo:
    """Read a layer's ``?f=json`` answer.

    Raises:
        PermanentError: ``not_a_layer`` (a service, a group layer, a table
            without geometry, an HTML page) or ``not_queryable``.
    """
    meta = _require_layer(url, doc)
    oid = _object_id_field(meta)
    if oid is None:
        raise PermanentError(f"{url}: layer has no object-id field", code="not_a_layer")
    names = tuple(str(f.get("name")) for f in meta["fields"] if isinstance(f, Mapping))
    extent = meta.get("extent") if isinstance(meta.get("extent"), Mapping) else {}
    native = meta.get("sourceSpatialReference") or (extent or {}).get("spatialReference")
    return LayerInfo(
        url=layer_url(url),
        name=str(meta.get("name", "")),
        geometry_type=str(meta.get("geometryType", "")),
        object_id_field=oid,
        max_record_count=int(meta.get("maxRecordCount") or DEFAULT_MAX_RECORD_COUNT),
        supports_pagination=_capability(meta, "supportsPagination"),
        supports_order_by=_capability(meta, "supportsOrderBy"),
        fields=names,
        native_crs=crs_of(native),
    )


def parse_count(doc: Any) -> int:
    """The ``count`` of a ``returnCountOnly`` answer."""
    count = doc.get("count") if isinstance(doc, Mapping) else None
    if not isinstance(count, int) or count < 0:
        raise PermanentError(f"count answer has no count: {str(doc)[:120]}", code="bad_answer")
    return count


def parse_ids(doc: Any) -> list[int]:
    """Sorted object ids of a ``returnIdsOnly`` answer (``objectIds`` is null when empty)."""
    ids = doc.get("objectIds") if isinstance(doc, Mapping) else None
    if ids is None and isinstance(doc, Mapping) and "objectIdFieldName" in doc:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise PermanentError(f"ids answer has no objectIds: {str(doc)[:120]}", code="bad_answer")
    return sorted(set(ids))


def choose_strategy(info: LayerInfo) -> Strategy:
    """``offset`` paging where the server supports it with a stable order, else ``ids``."""
    return "offset" if info.supports_pagination and info.supports_order_by else "ids"


def page_size(info: LayerInfo, requested: int | None) -> int:
    """The page size to use: the request, capped at the server's ``maxRecordCount``."""
    if requested is not None and requested < 1:
        raise ConfigError(f"page size must be at least 1, got {requested}")
    return min(requested or info.max_record_count, info.max_record_count)


@dataclass(frozen=True, slots=True)
class LayerPage:
    """One page of a layer: a request and how many features it should hold.

    Attributes:
        request: the query as sent.
        index: position in the plan, from 0.
        expected: features the page should hold when complete.
        object_id_field: used to ask again for what a capped answer left out.
        native_crs: the layer's CRS, for answers that omit ``spatialReference``.
        last: the final page of an offset plan, where ``exceededTransferLimit``
            means the layer holds more features than it counted.
    """

    request: Request
    index: int
    expected: int
    object_id_field: str
    native_crs: str | None = None
    last: bool = False

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form for a job payload."""
        return {
            "request": self.request.to_payload(),
            "index": self.index,
            "expected": self.expected,
            "object_id_field": self.object_id_field,
            "native_crs": self.native_crs,
            "last": self.last,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LayerPage:
        """Inverse of :meth:`to_payload`."""
        return cls(
            request=Request.from_payload(payload["request"]),
            index=int(payload["index"]),
            expected=int(payload["expected"]),
            object_id_field=str(payload["object_id_field"]),
            native_crs=payload.get("native_crs"),
            last=bool(payload.get("last", False)),
        )


def _offset_request(info: LayerInfo, offset: int, count: int) -> Request:
    params = (
        ("where", "1=1"),
        *_QUERY_PARAMS,
        ("orderByFields", f"{info.object_id_field} ASC"),
        ("resultOffset", str(offset)),
        ("resultRecordCount", str(count)),
        ("f", "json"),
    )
    return Request("GET", info.url + "/query", params)


def _ids_request(info: LayerInfo, ids: Sequence[int]) -> Request:
    params = (("objectIds", ",".join(map(str, ids))), *_QUERY_PARAMS, ("f", "json"))
    return Request("POST", info.url + "/query", params)


def plan_offset_pages(info: LayerInfo, count: int, size: int) -> list[LayerPage]:
    """Pages of ``size`` ordered by object id, enough for ``count`` features."""
    total = math.ceil(count / size)
    pages = []
    for index in range(total):
        expected = min(size, count - index * size)
        request = _offset_request(info, index * size, expected)
        last = index == total - 1
        pages.append(
            LayerPage(request, index, expected, info.object_id_field, info.native_crs, last)
        )
    return pages


def plan_id_pages(info: LayerInfo, ids: Sequence[int], size: int) -> list[LayerPage]:
    """Pages of at most ``size`` object ids each, in id order."""
    ordered = sorted(ids)
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    return [
        LayerPage(
            _ids_request(info, chunk), index, len(chunk), info.object_id_field, info.native_crs
        )
        for index, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True, slots=True)
class QueryPage:
    """Features of one query answer, as Esri JSON.

    Attributes:
        features: ``{"attributes": {...}, "geometry": {...}}`` objects.
        crs: the CRS the geometry is in, when the answer says.
        exceeded: the server's ``exceededTransferLimit`` on the last answer.
        geometry_type: e.g. ``esriGeometryPolygon``.
    """

    features: list[dict[str, Any]]
    crs: str | None
    exceeded: bool
    geometry_type: str


def parse_query_response(doc: Any) -> QueryPage:
    """Read a ``/query`` answer (Esri JSON, ``f=json``)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("features"), list):
        raise PermanentError(f"query answer has no features: {str(doc)[:120]}", code="bad_answer")
    features = [f for f in doc["features"] if isinstance(f, dict)]
    return QueryPage(
        features=features,
        crs=crs_of(doc.get("spatialReference")),
        exceeded=bool(doc.get("exceededTransferLimit", False)),
        geometry_type=str(doc.get("geometryType", "")),
    )


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """How a layer will be read.

    Attributes:
        info: the layer's metadata.
        count: the server's feature count (what the sync is checked against).
        strategy: ``offset`` or ``ids``.
        pages: every page, in order.
    """

    info: LayerInfo
    count: int
    strategy: Strategy
    pages: list[LayerPage]


async def describe_layer(client: HttpClient, url: str) -> LayerInfo:
    """Fetch and read a layer's metadata."""
    request = metadata_request(url)
    try:
        doc = await client.json(request)
    except PermanentError as exc:
        raise PermanentError(
            f"{url} is not a readable layer: {exc.message}", code="not_a_layer"
        ) from exc
    return parse_layer_metadata(url, doc)


async def plan_layer(
    client: HttpClient,
    url: str,
    requested_size: int | None = None,
    strategy: Strategy | None = None,
) -> LayerPlan:
    """Read metadata and count, and plan every page of the layer.

    Args:
        client: the polite HTTP client.
        url: the layer URL.
        requested_size: page size wanted (capped at ``maxRecordCount``).
        strategy: force ``offset`` or ``ids``; default from the metadata.
    """
    info = await describe_layer(client, url)
    count = parse_count(await client.json(count_request(info.url)))
    size = page_size(info, requested_size)
    chosen = strategy or choose_strategy(info)
    if chosen == "offset":
        return LayerPlan(info, count, chosen, plan_offset_pages(info, count, size))
    ids = parse_ids(await client.json(ids_request(info.url)))
    return LayerPlan(info, count, chosen, plan_id_pages(info, ids, size))


# A page answer is scanned, not parsed, on the event loop: parsing belongs to
# the CPU stage. In compact JSON the key ``"attributes":`` occurs once per
# feature (a string value holding it would have its quotes escaped).
_FEATURE_KEY = re.compile(rb'"attributes"\s*:')
_EXCEEDED = re.compile(rb'"exceededTransferLimit"\s*:\s*true')


@dataclass(frozen=True, slots=True)
class PageAnswers:
    """The raw answers that make up one page (more than one when the server capped it).

    Attributes:
        bodies: JSON bodies, checked for errors, not parsed.
        exceeded: ``exceededTransferLimit`` of the last answer.
    """

    bodies: tuple[bytes, ...]
    exceeded: bool


def scan_answer(body: bytes) -> tuple[int, bool]:
    """Features in a query answer and its ``exceededTransferLimit``, without parsing it."""
    return len(_FEATURE_KEY.findall(body)), _EXCEEDED.search(body) is not None


def _decoded(body: bytes) -> Any:
    doc = decode_json(body)
    error = error_in_body(doc)
    if error is not None:
        raise error
    return doc


def parse_answers(bodies: Sequence[bytes]) -> QueryPage:
    """Parse the answers of a page into one :class:`QueryPage`."""
    pages = [parse_query_response(_decoded(body)) for body in bodies]
    features = [f for page in pages for f in page.features]
    first = pages[0]
    return QueryPage(features, first.crs, pages[-1].exceeded, first.geometry_type)


def _remainder(page: LayerPage, got: list[dict[str, Any]]) -> Request | None:
    params = dict(page.request.params)
    if "objectIds" in params:
        seen = {(f.get("attributes") or {}).get(page.object_id_field) for f in got}
        wanted = [i for i in params["objectIds"].split(",") if int(i) not in seen]
        return _with_params(page.request, objectIds=",".join(wanted)) if wanted else None
    offset = int(params.get("resultOffset", "0")) + len(got)
    return _with_params(
        page.request,
        resultOffset=str(offset),
        resultRecordCount=str(page.expected - len(got)),
    )


def _with_params(request: Request, **changes: str) -> Request:
    params = tuple((k, changes.get(k, v)) for k, v in request.params)
    return Request(request.method, request.url, params)


async def fetch_answers(client: HttpClient, page: LayerPage) -> PageAnswers:
    """Fetch one page's answers, asking again while the server capped them.

    Raises:
        TransientError: the network or server failed (after in-call retries).
        PermanentError: an answer is an error the server will repeat.
    """
    bodies = [await client.json_bytes(page.request)]
    count, exceeded = scan_answer(bodies[0])
    while exceeded and count < page.expected:
        # Rare: the server capped the page below what was asked (a maxRecordCount
        # lower than advertised). Ask for the rest; this needs the parsed ids.
        got = parse_answers(bodies).features
        follow = _remainder(page, got)
        if follow is None:
            break
        bodies.append(await client.json_bytes(follow))
        more, exceeded = scan_answer(bodies[-1])
        if more == 0:
            raise TransientError(f"page {page.index}: server capped it and then sent nothing")
        count += more
    return PageAnswers(tuple(bodies), exceeded)


async def fetch_page(client: HttpClient, page: LayerPage) -> QueryPage:
    """Fetch and parse one page (see :func:`fetch_answers`).

    ``crs`` stays ``None`` when the answer omits it; the caller falls back to
    ``page.native_crs`` when the coordinates are plainly not longitude/latitude.
    """
    return parse_answers((await fetch_answers(client, page)).bodies)
